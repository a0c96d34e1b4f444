import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import type { ConfigIssue } from './errors.js';

/** Memory one channel (industry × device × sensor) takes, measured on engine v2 (~2.0–2.4 KB). */
export const BYTES_PER_CHANNEL = 2_400;
/** Memory one reading takes while it waits in a sink's buffer (a Float64 value, a fault byte, frame overhead). */
export const BYTES_PER_BUFFERED_READING = 12;
/** Share of the limit a configuration may plan to use; the rest is for encoders, SDKs and spikes. */
const USABLE = 0.75;

/** What this process may use: V8's heap limit (channels live there) and the machine or container memory. */
export interface MemoryLimits {
  /** Bytes of JavaScript heap (raise with NODE_OPTIONS=--max-old-space-size=MB). */
  readonly heapBytes: number;
  /** Bytes of memory of the machine, or of the container (cgroup `memory.max`) when lower. */
  readonly totalBytes: number;
}

/** The limits of the running process. */
export function memoryLimits(): MemoryLimits {
  let total = totalmem();
  try {
    const max = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    if (/^\d+$/.test(max)) total = Math.min(total, Number(max));
  } catch {
    // not Linux, or no cgroup v2: the machine's memory
  }
  return { heapBytes: getHeapStatistics().heap_size_limit, totalBytes: total };
}

function gb(bytes: number): string {
  return bytes >= 1e12
    ? `${(bytes / 1e12).toLocaleString('en-US', { maximumFractionDigits: 1 })} TB`
    : `${(bytes / 1e9).toLocaleString('en-US', { maximumFractionDigits: 1 })} GB`;
}

/**
 * A problem when a fleet of `channels` cannot fit in this process, or undefined. Called before the
 * channels are made, so a typo'd `devices_per_industry` fails at once instead of after minutes.
 */
export function fleetMemoryProblem(
  channels: number,
  path: string,
  limits: MemoryLimits = memoryLimits(),
): ConfigIssue | undefined {
  const need = channels * BYTES_PER_CHANNEL;
  const limit = Math.min(limits.heapBytes, limits.totalBytes) * USABLE;
  if (need <= limit) return undefined;
  return {
    path,
    message: `${channels.toLocaleString('en-US')} channels (industries × sensors × devices) need about ${gb(need)} of memory (${BYTES_PER_CHANNEL.toLocaleString('en-US')} bytes each), but this process can use about ${gb(limit)} (${limits.heapBytes <= limits.totalBytes ? 'the V8 heap limit: raise it with NODE_OPTIONS=--max-old-space-size=<MB>' : 'the memory of the machine'}): simulate fewer devices or industries, or split the fleet across processes`,
  };
}

/** A problem when a sink's `max_buffer_size` cannot fit in memory while its sink is stalled, or undefined. */
export function bufferMemoryProblem(
  maxBufferSize: number,
  path: string,
  limits: MemoryLimits = memoryLimits(),
): ConfigIssue | undefined {
  const need = maxBufferSize * BYTES_PER_BUFFERED_READING;
  const limit = limits.totalBytes * USABLE;
  if (need <= limit) return undefined;
  return {
    path,
    message: `${maxBufferSize.toLocaleString('en-US')} buffered records need about ${gb(need)} while the sink is stalled (${BYTES_PER_BUFFERED_READING} bytes each), but this machine has ${gb(limits.totalBytes)}: lower max_buffer_size (the default is 50,000)`,
  };
}

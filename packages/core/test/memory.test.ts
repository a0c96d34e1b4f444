import { describe, expect, it } from '@jest/globals';
import {
  BYTES_PER_BUFFERED_READING,
  BYTES_PER_CHANNEL,
  bufferMemoryProblem,
  fleetMemoryProblem,
  memoryLimits,
} from '../src/index.js';

const GB = 1e9;

describe('memory estimates from the configuration', () => {
  it('a fleet is refused only when its channels exceed 3/4 of the smaller limit', () => {
    const limits = { heapBytes: 4 * GB, totalBytes: 24 * GB };
    const fits = Math.floor((3 * GB) / BYTES_PER_CHANNEL);
    expect(fleetMemoryProblem(fits, 'devicesPerIndustry', limits)).toBeUndefined();
    const p = fleetMemoryProblem(fits + 1000, 'devicesPerIndustry', limits)!;
    expect(p.path).toBe('devicesPerIndustry');
    expect(p.message).toMatch(/V8 heap limit: raise it with NODE_OPTIONS=--max-old-space-size/);
    // A container smaller than the heap limit: the container is the limit.
    const small = fleetMemoryProblem(fits, 'd', { heapBytes: 4 * GB, totalBytes: 1 * GB })!;
    expect(small.message).toMatch(/the memory of the machine/);
  });

  it('a buffer is refused only when it exceeds 3/4 of the memory', () => {
    const limits = { heapBytes: 4 * GB, totalBytes: 8 * GB };
    const fits = Math.floor((6 * GB) / BYTES_PER_BUFFERED_READING);
    expect(bufferMemoryProblem(fits, 'maxBufferSize', limits)).toBeUndefined();
    expect(bufferMemoryProblem(fits * 2, 'maxBufferSize', limits)?.message).toMatch(
      /buffered records need about 12 GB while the sink is stalled/,
    );
  });

  it('reads the limits of this process', () => {
    const l = memoryLimits();
    expect(l.heapBytes).toBeGreaterThan(100e6);
    expect(l.totalBytes).toBeGreaterThan(100e6);
  });
});

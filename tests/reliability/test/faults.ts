// Shared pieces of the fault tests: a recording HTTP destination and the accounting check.
import { expect } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { SensorRecordDict, SinkMetrics } from '@iotsim/core';

/** What the recording server does with request number `n` (0-based). */
export type Reply = 'ok' | '500' | 'hang' | 'reset' | { delayMs: number };

/**
 * A webhook destination on 127.0.0.1. `held` is what it keeps: the records of every request it
 * answered 200, plus those of requests it received in full but never answered (`hang`): a
 * destination may store a request whose response the client never sees.
 */
export class RecordingServer {
  readonly held: SensorRecordDict[] = [];
  /** Records in requests that were received in full but never answered. */
  readonly unanswered: SensorRecordDict[] = [];
  requests = 0;
  url = '';
  private server: Server | undefined;
  private firstRequest: (() => void)[] = [];

  constructor(private readonly reply: (n: number) => Reply) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/ingest`;
    return this;
  }

  /** Resolves when the first request has arrived. */
  firstRequestSeen(): Promise<void> {
    if (this.requests > 0) return Promise.resolve();
    return new Promise((r) => this.firstRequest.push(r));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Distinct records held (a record delivered twice counts once). */
  distinctHeld(): number {
    return new Set(this.held.map(recordKey)).size;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const n = this.requests++;
    for (const r of this.firstRequest.splice(0)) r();
    const reply = this.reply(n);
    if (reply === 'reset') {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const records = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SensorRecordDict[];
      if (reply === 'hang') {
        this.held.push(...records);
        this.unanswered.push(...records);
        return;
      }
      if (reply === '500') {
        res.writeHead(500).end('injected failure');
        return;
      }
      const answer = (): void => {
        this.held.push(...records);
        res.writeHead(200).end();
      };
      if (typeof reply === 'object') setTimeout(answer, reply.delayMs);
      else answer();
    });
  }
}

/** Identity of a record: one per (industry, device, sensor, timestamp). */
export function recordKey(r: {
  industry: string;
  device_id: string;
  sensor_name: string;
  timestamp: number;
}): string {
  return `${r.industry}|${r.device_id}|${r.sensor_name}|${r.timestamp}`;
}

/** The accounting invariant after a run: nothing buffered, every record counted once. */
export function expectBalanced(
  m: Pick<SinkMetrics, 'generated' | 'delivered' | 'dropped' | 'failed' | 'buffered'>,
): void {
  expect({
    buffered: m.buffered,
    balance: m.generated - (m.delivered + m.dropped.total + m.failed),
  }).toEqual({ buffered: 0, balance: 0 });
}

import { CallbackSink, ConsoleSink, SensorRecord, type SensorRecordDict } from '@iotsim/core';
import { describeSinkConformance } from '../src/index.js';

const consoleOut = new Map<ConsoleSink, string[]>();
describeSinkConformance('console (json)', {
  create() {
    const lines: string[] = [];
    const sink = new ConsoleSink({
      fmt: 'json',
      stream: { write: (s: string) => lines.push(s) },
    });
    consoleOut.set(sink, lines);
    return sink;
  },
  async readBack(sink) {
    return consoleOut
      .get(sink)!
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => SensorRecord.fromDict(JSON.parse(l) as Record<string, unknown>).toDict());
  },
});

const received = new Map<CallbackSink, SensorRecordDict[]>();
describeSinkConformance('callback (async)', {
  create() {
    const got: SensorRecordDict[] = [];
    const sink = new CallbackSink(async (batch) => {
      await Promise.resolve();
      for (const r of batch) got.push(r.toDict());
    });
    received.set(sink, got);
    return sink;
  },
  async readBack(sink) {
    return received.get(sink)!;
  },
});

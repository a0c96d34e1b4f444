import { createServer, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  DataGenerator,
  LiveState,
  ServerStartError,
  type ChannelTable,
  type Logger,
  type Server,
  type ServerContext,
} from '@iotsim/core';

/** A live simulation a server can be started on, advanced by hand (no clock, no sinks). */
export interface TestPlant {
  readonly generator: DataGenerator;
  readonly state: LiveState;
  readonly table: ChannelTable;
  readonly context: ServerContext;
  /** What the server logged. */
  readonly logs: string[];
  /** Generates and publishes the next tick; returns its values (one per channel). */
  tick(): Float64Array;
}

/** Options of `testPlant`. */
export interface TestPlantOptions {
  industries?: readonly string[];
  devicesPerIndustry?: number;
  seed?: number;
  /** Ticks per second on the grid. Default 1. */
  rateHz?: number;
  /** Name of the server in the run. Default the first industry. */
  name?: string;
}

/** A small plant (mining, 2 devices by default) and the context a server gets from the simulator. */
export function testPlant(options: TestPlantOptions = {}): TestPlant {
  const generator = new DataGenerator({
    industries: options.industries ?? ['mining'],
    devicesPerIndustry: options.devicesPerIndustry ?? 2,
    seed: options.seed ?? 42,
  });
  const table = generator.channelTable();
  const state = new LiveState(table);
  const logs: string[] = [];
  const log =
    (level: string) =>
    (message: string): void =>
      void logs.push(`${level} ${message}`);
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
  const rateHz = options.rateHz ?? 1;
  let k = Math.floor(1_767_225_600 * rateHz); // 2026-01-01T00:00:00Z on the grid
  const context: ServerContext = {
    logger,
    channels: table,
    control: generator.control,
    rateHz,
    name: options.name ?? 'server',
  };
  return {
    generator,
    state,
    table,
    context,
    logs,
    tick() {
      const frame = generator.generate(k, Float64Array.of(k / rateHz), 1 / rateHz);
      k++;
      state.publish(frame);
      return frame.values.slice(0, table.length);
    },
  };
}

/** Listens on a free 127.0.0.1 port and returns it with the blocker (close it when done). */
export async function occupiedPort(): Promise<{ port: number; blocker: NetServer }> {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  return { port: (blocker.address() as { port: number }).port, blocker };
}

/** A free 127.0.0.1 port (listened on and closed). */
export async function freePort(): Promise<number> {
  const { port, blocker } = await occupiedPort();
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  return port;
}

/** What a server package tells the server conformance suite. */
export interface ServerConformanceTarget<S extends Server = Server> {
  /** A server listening on 127.0.0.1 at `port`, built from YAML-style options (`fromConfig`). */
  create(port: number): S;
  /**
   * Reads the current values of `channels` (channel-table positions) through the protocol with a
   * client of the protocol (not through the server object), closing it afterwards.
   */
  read(server: S, port: number, channels: readonly number[], plant: TestPlant): Promise<number[]>;
  /** Opens a client session and keeps it open; resolves `closed` when the server ends it. */
  connect(port: number): Promise<{ closed: Promise<void>; close(): Promise<void> }>;
  /** What a client is expected to read for a generated value (float32 rounding …). Default: itself. */
  expected?(value: number): number;
  /** A YAML option key the type accepts, for the did-you-mean check (`port`). */
  knownKey?: string;
  /** The plant the suite starts the server on. Default `testPlant()`. */
  plant?(): TestPlant;
}

/**
 * The contract every server keeps: it serves the live state's newest values (and new ones after
 * each tick), an occupied port is a `ServerStartError` naming it, `stop()` ends every client
 * session, frees the port and may be called twice, unknown option keys are rejected with
 * did-you-mean. Call it at the top level of a server package's test file.
 */
export function describeServerConformance<S extends Server>(
  name: string,
  target: ServerConformanceTarget<S>,
): void {
  const expected = (v: number): number => (target.expected ? target.expected(v) : v);
  const started: S[] = [];
  const newPlant = (): TestPlant => (target.plant ? target.plant() : testPlant());

  describe(`${name} (server conformance)`, () => {
    afterEach(async () => {
      for (const s of started.splice(0)) await s.stop();
    });

    it('serves the newest values of the live state, and new ones after a tick', async () => {
      const plant = newPlant();
      const port = await freePort();
      const server = target.create(port);
      const first = plant.tick();
      await server.start(plant.state, plant.context);
      started.push(server);
      const channels = [0, Math.floor(plant.table.length / 2), plant.table.length - 1];
      const read1 = await target.read(server, port, channels, plant);
      expect(read1).toEqual(channels.map((c) => expected(first[c]!)));
      let second = plant.tick();
      // A generated value may repeat (a clamped sensor); tick until one of the channels changes.
      for (let i = 0; i < 20 && channels.every((c) => second[c] === first[c]); i++) {
        second = plant.tick();
      }
      const read2 = await target.read(server, port, channels, plant);
      expect(read2).toEqual(channels.map((c) => expected(second[c]!)));
    });

    it('an occupied port is a ServerStartError naming the port, and nothing is left open', async () => {
      const plant = newPlant();
      plant.tick();
      const { port, blocker } = await occupiedPort();
      try {
        const server = target.create(port);
        const err = await server.start(plant.state, plant.context).then(
          () => undefined,
          (e: unknown) => e,
        );
        started.push(server);
        expect(err).toBeInstanceOf(ServerStartError);
        expect(String((err as Error).message)).toContain(String(port));
        await server.stop();
      } finally {
        await new Promise<void>((resolve) => blocker.close(() => resolve()));
      }
    });

    it('stop() ends client sessions, frees the port, and may be called twice', async () => {
      const plant = newPlant();
      plant.tick();
      const port = await freePort();
      const server = target.create(port);
      await server.start(plant.state, plant.context);
      const client = await target.connect(port);
      const t0 = Date.now();
      await server.stop();
      await client.closed;
      expect(Date.now() - t0).toBeLessThan(10_000);
      await server.stop();
      await client.close();
      // The port is free again: another server can listen on it.
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((resolve) => again.close(() => resolve()));
    });

    it('stop() before start() does nothing', async () => {
      const server = target.create(await freePort());
      await expect(server.stop()).resolves.toBeUndefined();
    });

    it('an unknown option key is a ConfigError with did-you-mean', () => {
      const key = target.knownKey ?? 'port';
      const typo =
        key.length > 3 ? `${key.slice(0, -1)}${key.slice(-1) === 'x' ? 'y' : 'x'}` : `${key}x`;
      const cls = target.create(0).constructor as unknown as {
        fromConfig(config: Record<string, unknown>, path?: string): Server;
      };
      let err: unknown;
      try {
        cls.fromConfig({ [typo]: 1 }, 'servers[0].'); // the registry's prefix form
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).toContain(`servers[0].${typo}`);
      expect(String((err as Error).message)).toContain(key);
    });
  });
}

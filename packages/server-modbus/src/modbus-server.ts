import { createServer, type Server as NetServer, type Socket } from 'node:net';
import {
  closeTcp,
  listenTcp,
  parseOptions,
  Server,
  SocketTracker,
  type LiveState,
  type ServerContext,
} from '@iotsim/core';
import { answer, MBAP_LENGTH, type RequestContext } from './internal/protocol.js';
import { RegisterBank } from './internal/register-bank.js';
import { buildModbusMap, type ModbusMap } from './modbus-map.js';
import {
  ModbusServerSchema,
  type ModbusServerOptions,
  type ResolvedModbusOptions,
  type WordOrder,
} from './options.js';

/** Largest MBAP length field a request may carry (unit id + a 253-byte PDU). */
const MAX_MBAP_LENGTH = 254;

/**
 * Serves the live simulation over Modbus TCP on one port: each device is a unit (ids from 1 in
 * channel-table order), each sensor a float32 in input registers (mirrored read-only in holding
 * registers), fault flags as discrete inputs; coils inject and clear faults, a holding block
 * overrides values. `iotsim modbus-map` prints the register map.
 *
 * @example
 * sim.addServer(new ModbusServer({ port: 5020, wordOrder: 'CDAB' }));
 */
export class ModbusServer extends Server {
  static override readonly type = 'modbus';
  static override readonly schema = ModbusServerSchema;
  private readonly options: ResolvedModbusOptions;
  private server: NetServer | undefined;
  private readonly sockets = new SocketTracker();
  private unsubscribe: (() => void) | undefined;
  private served: ModbusMap | undefined;
  private port: number | undefined;

  constructor(options: ModbusServerOptions = {}) {
    super();
    this.options = parseOptions(ModbusServerSchema, options);
  }

  /** The float32 word order served. */
  get wordOrder(): WordOrder {
    return this.options.wordOrder;
  }

  /** The port listened on, once started (useful with `port: 0`). */
  get boundPort(): number | undefined {
    return this.port;
  }

  /** The register map served, once started. */
  get map(): ModbusMap | undefined {
    return this.served;
  }

  async start(state: LiveState, context: ServerContext): Promise<void> {
    const { host, port, wordOrder, faultDurationS } = this.options;
    const map = buildModbusMap(context.channels, wordOrder);
    const bank = new RegisterBank(map, faultDurationS);
    const ctx: RequestContext = { bank, control: context.control };
    if (state.latest) bank.encode(state.latest);
    this.unsubscribe = state.subscribe((s) => bank.encode(s));

    const server = createServer({ noDelay: true }, (socket) => this.serve(socket, ctx, context));
    this.sockets.track(server);
    try {
      this.port = await listenTcp(server, {
        type: 'modbus',
        host,
        port,
        inUseHint: '5020 is the default; 502 needs root',
      });
    } catch (err) {
      this.unsubscribe();
      this.unsubscribe = undefined;
      throw err;
    }
    this.server = server;
    this.served = map;
    context.logger.info(
      `${context.name}: Modbus TCP on ${host}:${this.port}, ${unitRange(map)}, word order ${wordOrder}; print the register map with 'iotsim modbus-map'`,
    );
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await closeTcp(server, this.sockets);
  }

  override describe(): string {
    const { host, port, wordOrder } = this.options;
    const units = this.served ? `, ${unitRange(this.served)}` : '';
    return `modbus (${host}:${this.port ?? port}, word order ${wordOrder}${units})`;
  }

  private serve(socket: Socket, ctx: RequestContext, context: ServerContext): void {
    socket.on('error', (err) =>
      context.logger.debug(`${context.name}: client socket: ${err.message}`),
    );
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      let offset = 0;
      const out: Buffer[] = [];
      while (buf.length - offset >= MBAP_LENGTH) {
        const protocol = buf.readUInt16BE(offset + 2);
        const length = buf.readUInt16BE(offset + 4);
        if (protocol !== 0 || length < 2 || length > MAX_MBAP_LENGTH) {
          // Not Modbus TCP (or a broken stream): nothing after it can be framed.
          context.logger.debug(
            `${context.name}: closing a client that sent a bad MBAP header (protocol ${protocol}, length ${length})`,
          );
          socket.destroy();
          return;
        }
        const size = 6 + length;
        if (buf.length - offset < size) break;
        out.push(answer(buf.subarray(offset, offset + size), ctx));
        offset += size;
      }
      if (offset < buf.length) pending = Buffer.from(buf.subarray(offset));
      const reply = out.length === 1 ? out[0]! : out.length > 1 ? Buffer.concat(out) : undefined;
      // A client that pipelines requests but does not read its answers is paused, not buffered for.
      if (reply && !socket.write(reply)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
  }
}

function unitRange(map: ModbusMap): string {
  const n = map.units.length;
  return n === 1 ? 'unit id 1 (1 device)' : `unit ids 1-${n} (${n} devices)`;
}

import type { Server as NetServer, Socket } from 'node:net';
import { ServerStartError } from '../errors.js';

/** Where a server listens, for `listenTcp`. */
export interface ListenTarget {
  /** The server type, for the error (`modbus`). */
  readonly type: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The YAML option that set the port (`port`, `ws_port`). Default `port`. */
  readonly option?: string;
  /** A hint for a port in use, after "choose another port" (`another MQTT broker?`). */
  readonly inUseHint?: string;
}

/**
 * Listens on `host:port` and resolves with the bound port; a port in use, a privileged port or a
 * bad host is a `ServerStartError` naming the option and the fix. Every server of iotsim listens
 * through it, so they all answer alike.
 */
export function listenTcp(server: NetServer, target: ListenTarget): Promise<number> {
  const { type, host, port } = target;
  const option = target.option ?? 'port';
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const fix =
        err.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is in use (${option}); choose another port, or stop what uses it${target.inUseHint ? ` (${target.inUseHint})` : ''}`
          : err.code === 'EACCES'
            ? `no permission to listen on port ${port} (${option}); use a port above 1023`
            : `cannot listen on ${host}:${port} (${option}): ${err.message}; check host`;
      reject(new ServerStartError(type, fix, { cause: err }));
    };
    // Kept after listening: a later error (EMFILE on accept …) must not be an unhandled event.
    server.once('error', onError);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** The open connections of one or more servers, so `stop()` can end them all. */
export class SocketTracker {
  private readonly sockets = new Set<Socket>();

  /** Tracks every connection `server` accepts. */
  track(server: NetServer): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Destroys every open connection. */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/** Stops accepting, ends every tracked connection, and resolves once `server` is closed. */
export async function closeTcp(
  server: NetServer | undefined,
  tracker: SocketTracker,
): Promise<void> {
  const closed =
    server?.listening === true
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
  tracker.destroyAll();
  await closed;
}

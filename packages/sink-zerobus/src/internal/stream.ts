import type * as Grpc from '@grpc/grpc-js';
import { IotSimError } from '@iotsim/core';

/** One request on the EphemeralStream RPC (proto-loader objects, keepCase). */
export interface EphemeralStreamRequest {
  create_stream?: {
    table_name: string;
    record_type: 'JSON' | 'PROTO';
    descriptor_proto?: Uint8Array;
  };
  ingest_record_batch?: {
    offset_id: number;
    json_batch?: { records: string[] };
    proto_encoded_batch?: { records: Uint8Array[] };
  };
}

/** One response on the EphemeralStream RPC. */
export interface EphemeralStreamResponse {
  payload?: 'create_stream_response' | 'ingest_record_response' | 'close_stream_signal';
  create_stream_response?: { stream_id?: string };
  ingest_record_response?: { durability_ack_up_to_offset?: number | string };
  close_stream_signal?: { duration?: { seconds?: number | string; nanos?: number } };
}

/**
 * The Zerobus stream failed or closed; `code` is the gRPC status code when there is one. The sink
 * never throws it as such: it is the `cause` of the SinkConnectError or SinkWriteError that says
 * whether a retry can help.
 */
export class StreamBrokenError extends IotSimError {
  constructor(
    message: string,
    readonly code: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type Duplex = Grpc.ClientDuplexStream<EphemeralStreamRequest, EphemeralStreamResponse>;

/**
 * One ephemeral Zerobus stream: created with a CreateIngestStreamRequest, then ingest requests
 * numbered 0, 1, 2, … on this stream; the server acknowledges cumulatively with
 * `durability_ack_up_to_offset`.
 */
export class EphemeralStream {
  readonly streamId: string;
  /** Highest offset the server has acknowledged as durable (-1: none). */
  ackedUpTo = -1;
  /** The server announced it will close this stream: do not start new writes on it. */
  closing = false;
  private nextOffset = 0;
  private broken: StreamBrokenError | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly call: Duplex,
    streamId: string,
  ) {
    this.streamId = streamId;
  }

  /** Opens the RPC, sends the create request and waits for the stream id. */
  static open(
    call: Duplex,
    create: NonNullable<EphemeralStreamRequest['create_stream']>,
    timeoutMs: number,
  ): Promise<EphemeralStream> {
    return new Promise((resolve, reject) => {
      let stream: EphemeralStream | undefined;
      const timer = setTimeout(() => {
        fail(new StreamBrokenError(`no CreateIngestStream response within ${timeoutMs} ms`, 4));
        call.cancel();
      }, timeoutMs);
      const fail = (err: StreamBrokenError): void => {
        clearTimeout(timer);
        if (stream) stream.markBroken(err);
        else reject(err);
      };
      call.on('data', (msg: EphemeralStreamResponse) => {
        if (!stream) {
          const id = msg.create_stream_response?.stream_id;
          clearTimeout(timer);
          if (msg.payload !== 'create_stream_response' || !id) {
            reject(
              new StreamBrokenError(
                `unexpected first response ${msg.payload ?? 'without payload'}`,
                undefined,
              ),
            );
            call.cancel();
            return;
          }
          stream = new EphemeralStream(call, id);
          resolve(stream);
          return;
        }
        stream.onResponse(msg);
      });
      call.on('error', (err: Grpc.ServiceError) => {
        fail(new StreamBrokenError(err.details || err.message, err.code, { cause: err }));
      });
      call.on('end', () => {
        fail(new StreamBrokenError('the server closed the stream', undefined));
      });
      call.write({ create_stream: create });
    });
  }

  /** Why the stream is unusable, if it is. */
  get failure(): StreamBrokenError | undefined {
    return this.broken;
  }

  /** Sends one ingest request and returns its offset. Resolves once the transport takes it. */
  async send(
    batch: Omit<NonNullable<EphemeralStreamRequest['ingest_record_batch']>, 'offset_id'>,
  ): Promise<number> {
    if (this.broken) throw this.broken;
    const offset = this.nextOffset++;
    const ready = this.call.write({ ingest_record_batch: { offset_id: offset, ...batch } });
    if (!ready) await this.until(() => true, 'drain');
    return offset;
  }

  /** Waits until `offset` is acknowledged; rejects when the stream breaks or `timeoutMs` passes. */
  async waitForAck(offset: number, timeoutMs: number): Promise<void> {
    await this.until(() => this.ackedUpTo >= offset, undefined, timeoutMs);
  }

  private until(done: () => boolean, event?: 'drain', timeoutMs?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (this.broken) finish(this.broken);
        else if (!event && done()) finish();
      };
      const onDrain = (): void => finish();
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (event) this.call.off(event, onDrain);
        if (err) reject(err);
        else resolve();
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const err = new StreamBrokenError(`no acknowledgement within ${timeoutMs} ms`, 4);
          this.markBroken(err);
          this.call.cancel();
        }, timeoutMs);
      }
      this.listeners.add(check);
      if (event) this.call.once(event, onDrain);
      check();
    });
  }

  private onResponse(msg: EphemeralStreamResponse): void {
    if (msg.payload === 'ingest_record_response') {
      const v = Number(msg.ingest_record_response?.durability_ack_up_to_offset ?? -1);
      if (v > this.ackedUpTo) this.ackedUpTo = v;
    } else if (msg.payload === 'close_stream_signal') {
      this.closing = true;
    }
    for (const l of [...this.listeners]) l();
  }

  private markBroken(err: StreamBrokenError): void {
    if (this.broken) return;
    this.broken = err;
    for (const l of [...this.listeners]) l();
  }

  /** Half-closes the stream (graceful) or cancels it. */
  close(graceful: boolean): void {
    if (!this.broken) this.markBroken(new StreamBrokenError('stream closed by the client', 1));
    if (graceful) this.call.end();
    else this.call.cancel();
  }
}

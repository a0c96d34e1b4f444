import type { Logger, MetadataValue, RecordBatch } from '@iotsim/core';

/** The dialect-specific half of DatabaseSink: one per driver. */
export interface DatabaseWriter {
  /** Opens the connection, creates the table if missing and checks its shape. */
  connect(): Promise<void>;
  /** Writes one batch (read from its frames) in one transaction: all of it lands or none. */
  write(batch: RecordBatch): Promise<void>;
  /** Releases the connection. Safe to call twice. */
  close(): Promise<void>;
}

/** What a writer needs from its sink. */
export interface WriterContext {
  readonly logger: Logger;
  /** Removes the sink's secrets (and core's patterns: URL passwords …) from a message. */
  readonly redact: (text: string) => string;
}

const metadataCache = new WeakMap<object, string>();

/** JSON text of a record's metadata; sensors share one frozen metadata object, so it is cached. */
export function metadataJson(m: Readonly<Record<string, MetadataValue>>): string {
  let json = metadataCache.get(m);
  if (json === undefined) {
    json = JSON.stringify(m);
    if (Object.isFrozen(m)) metadataCache.set(m, json);
  }
  return json;
}

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

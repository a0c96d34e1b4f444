// kafkajs's fast produce path is a pnpm patch of kafkajs 2.2.4 (patches/kafkajs@2.2.4.patch at the
// workspace root): a produce request encoder that writes the same bytes into one Buffer per
// partition, and a linear per-partition grouping. Nothing is replaced at run time: a kafkajs that
// this package resolves either carries the patch or not, and the sink logs which at info.
import { createRequire } from 'node:module';

/** The kafkajs version the patch is made for (the last release). */
export const KAFKAJS_VERSION = '2.2.4';

/** What the kafkajs this package resolves carries. */
export interface FastProduceStatus {
  /** The produce request encoder is the patched one. */
  readonly encoder: boolean;
  /** The per-partition grouping is linear (so a request may carry many messages). */
  readonly grouping: boolean;
  /** Why the fast path is off. */
  readonly reason?: string;
}

/** The patched encoder's exports (see the patch's fastRequest.js). */
export interface PatchedProduceRequest {
  iotsimFastProduce?: boolean;
  original?: unknown;
  stats?: { fast: number; fallback: number };
}

/** Reads the status from the kafkajs that `from` (this module by default) resolves. */
export function fastProduceStatus(from: string = import.meta.url): FastProduceStatus {
  try {
    const req = createRequire(createRequire(from).resolve('kafkajs'));
    const { version } = req('./package.json') as { version: string };
    const request = req('./src/protocol/requests/produce/v3/request.js') as PatchedProduceRequest;
    const grouping = req('./src/producer/groupMessagesPerPartition.js') as {
      iotsimLinear?: boolean;
    };
    const encoder = request.iotsimFastProduce === true;
    const linear = grouping.iotsimLinear === true;
    if (encoder && linear) return { encoder, grouping: linear };
    return {
      encoder,
      grouping: linear,
      reason:
        version === KAFKAJS_VERSION
          ? `kafkajs ${version} without the iotsim patch (patches/kafkajs@${KAFKAJS_VERSION}.patch): ~5x more CPU per record, requests capped at 2,000 messages`
          : `kafkajs ${version} is not ${KAFKAJS_VERSION}, which the patch is made for`,
    };
  } catch (err) {
    return {
      encoder: false,
      grouping: false,
      reason: `cannot read kafkajs: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** The status line the sink logs at info when kafkajs connects. */
export function describeFastProduce(s: FastProduceStatus): string {
  return s.encoder && s.grouping
    ? `kafka: kafkajs fast produce path on (patched kafkajs ${KAFKAJS_VERSION})`
    : `kafka: kafkajs fast produce path off: ${s.reason ?? 'unknown'}`;
}

/**
 * Seconds to wait according to an HTTP `Retry-After` header: delta-seconds (`120`) or an HTTP
 * date (`Wed, 21 Oct 2025 07:28:00 GMT`, counted from `now`, never negative). Undefined when the
 * header is absent or unreadable. For `SinkWriteError({ retryAfterS })` in HTTP-based sinks.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  now = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string') return undefined;
  const v = raw.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, (at - now) / 1000);
}

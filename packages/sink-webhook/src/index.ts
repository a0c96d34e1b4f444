export { WebhookSink, parseRetryAfter } from './webhook-sink.js';
export type { WebhookMethod, WebhookSinkOptions } from './options.js';

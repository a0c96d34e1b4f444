export { WebhookSink } from './webhook-sink.js';
export type { WebhookMethod, WebhookSinkOptions } from './options.js';

import type { RecordChannel } from '@iotsim/core';

/** Record fields a topic template may name, with how each is read. */
const CHANNEL_FIELDS: Readonly<Record<string, (c: RecordChannel) => string>> = {
  sensor_name: (c) => c.sensorName,
  industry: (c) => c.industry,
  device_id: (c) => c.deviceId,
  unit: (c) => c.unit,
  sensor_type: (c) => c.sensorType,
  min_value: (c) => String(c.minValue),
  max_value: (c) => String(c.maxValue),
  nominal_value: (c) => String(c.nominalValue),
};

/** Fields that change with every reading: a topic naming them is built per record. */
const READING_FIELDS = ['value', 'timestamp', 'fault_active'] as const;

/** Every field name a topic template may use. */
export const TOPIC_FIELDS: readonly string[] = [...Object.keys(CHANNEL_FIELDS), ...READING_FIELDS];

type Part = string | { field: string };

/** A parsed `topic` template (`iotsim/{industry}/{device_id}`). */
export class TopicTemplate {
  private readonly parts: readonly Part[];
  /** True when the topic depends only on the channel, so it is cached per channel. */
  readonly perChannel: boolean;
  private readonly cache = new WeakMap<RecordChannel, string>();

  private constructor(
    /** The template as written. */
    readonly text: string,
    parts: Part[],
  ) {
    this.parts = parts;
    this.perChannel = parts.every(
      (p) => typeof p === 'string' || !(READING_FIELDS as readonly string[]).includes(p.field),
    );
  }

  /** Parses `text`; returns the problem as a message when it is not a valid template. */
  static parse(text: string): TopicTemplate | string {
    if (text === '') return 'must not be empty';
    if (/[#+\0]/.test(text))
      return `must not contain the wildcards '#' or '+' (or NUL): a publish topic names one topic`;
    const parts: Part[] = [];
    const re = /\{([^{}]*)\}/g;
    let last = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index > last) parts.push(text.slice(last, m.index));
      const field = m[1]!.trim();
      if (!TOPIC_FIELDS.includes(field))
        return `unknown field {${field}} in ${JSON.stringify(text)}; known fields: ${TOPIC_FIELDS.map((f) => `{${f}}`).join(', ')}`;
      parts.push({ field });
      last = m.index + m[0].length;
    }
    if (last < text.length) parts.push(text.slice(last));
    if (parts.some((p) => typeof p === 'string' && /[{}]/.test(p)))
      return `has an unmatched brace in ${JSON.stringify(text)}`;
    return new TopicTemplate(text, parts);
  }

  /** The static text before the first field, without a trailing slash (`iotsim`). */
  get prefix(): string {
    const first = this.parts[0];
    const text = typeof first === 'string' ? first : '';
    const cut = text.lastIndexOf('/');
    if (this.parts.length === 1) return cut > 0 ? text.slice(0, cut) : text;
    return cut > 0 ? text.slice(0, cut) : text.replace(/\/+$/, '');
  }

  /** The topic of one reading. */
  topic(channel: RecordChannel, value: number, timestamp: number, fault: boolean): string {
    if (this.perChannel) {
      let t = this.cache.get(channel);
      if (t === undefined)
        this.cache.set(channel, (t = this.build(channel, value, timestamp, fault)));
      return t;
    }
    return this.build(channel, value, timestamp, fault);
  }

  private build(channel: RecordChannel, value: number, timestamp: number, fault: boolean): string {
    let out = '';
    for (const p of this.parts) {
      if (typeof p === 'string') out += p;
      else if (p.field === 'value') out += String(value);
      else if (p.field === 'timestamp') out += String(timestamp);
      else if (p.field === 'fault_active') out += String(fault);
      else out += topicSafe(CHANNEL_FIELDS[p.field]!(channel));
    }
    return out;
  }
}

/** A field value as one topic level: `/`, `+`, `#` and NUL become `_`. */
function topicSafe(text: string): string {
  return /[/+#\0]/.test(text) ? text.replace(/[/+#\0]/g, '_') : text;
}

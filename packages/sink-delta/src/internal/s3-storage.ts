import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '@iotsim/core';
import type { TableStorage } from './storage.js';

/** Bucket and key prefix of `s3://bucket/prefix` (no trailing slash). */
export function parseS3Url(tablePath: string): { bucket: string; prefix: string } {
  const m = /^s3a?:\/\/([^/]+)\/?(.*)$/i.exec(tablePath);
  if (!m) throw new ConfigError([{ path: 'tablePath', message: `not an s3:// URL: ${tablePath}` }]);
  return { bucket: m[1]!, prefix: m[2]!.replace(/\/+$/, '') };
}

/** Client settings from delta-rs style storage options (upper-case keys). */
export interface S3Settings {
  region: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  profile: string | undefined;
}

const TRUE = /^(true|1|yes)$/i;

/** Resolves storage options the way delta-rs (object_store) reads them. Throws ConfigError. */
export function s3Settings(options: Readonly<Record<string, string>>): S3Settings {
  const issues: { path: string; message: string }[] = [];
  const endpoint = options.AWS_ENDPOINT_URL ?? options.AWS_ENDPOINT;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      issues.push({ path: 'storageOptions.AWS_ENDPOINT_URL', message: `not a URL: ${endpoint}` });
    }
    if (url?.protocol === 'http:' && !TRUE.test(options.AWS_ALLOW_HTTP ?? '')) {
      issues.push({
        path: 'storageOptions.AWS_ENDPOINT_URL',
        message: `${endpoint} is plain HTTP: set AWS_ALLOW_HTTP: "true" to allow it (as delta-rs requires)`,
      });
    }
  }
  const id = options.AWS_ACCESS_KEY_ID;
  const secret = options.AWS_SECRET_ACCESS_KEY;
  if ((id === undefined) !== (secret === undefined)) {
    issues.push({
      path: 'storageOptions',
      message: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be given together',
    });
  }
  if (issues.length) throw new ConfigError(issues);
  const virtual = options.AWS_VIRTUAL_HOSTED_STYLE_REQUEST;
  return {
    region:
      options.AWS_REGION ?? options.AWS_DEFAULT_REGION ?? process.env.AWS_REGION ?? 'us-east-1',
    endpoint,
    // Path-style requests unless asked otherwise when an endpoint is set (MinIO, moto, …), as object_store does.
    forcePathStyle: virtual !== undefined ? !TRUE.test(virtual) : endpoint !== undefined,
    credentials:
      id !== undefined && secret !== undefined
        ? {
            accessKeyId: id,
            secretAccessKey: secret,
            ...(options.AWS_SESSION_TOKEN ? { sessionToken: options.AWS_SESSION_TOKEN } : {}),
          }
        : undefined,
    profile: options.AWS_PROFILE,
  };
}

interface S3ErrorLike {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function status(err: unknown): number | undefined {
  return (err as S3ErrorLike)?.$metadata?.httpStatusCode;
}

/**
 * A table under an S3 prefix, through @aws-sdk/client-s3 (loaded on `open`). Commits are
 * conditional PutObject requests (`If-None-Match: *`): S3 answers 412 when the version exists.
 */
export class S3Storage implements TableStorage {
  readonly location: string;
  private client: S3Client | undefined;
  private sdk: typeof S3Sdk | undefined;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(
    tablePath: string,
    private readonly settings: S3Settings,
  ) {
    const { bucket, prefix } = parseS3Url(tablePath);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = `s3://${bucket}/${prefix}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
  }

  private key(path: string): string {
    return this.prefix ? `${this.prefix}/${path}` : path;
  }

  async open(): Promise<void> {
    const sdk = await import('@aws-sdk/client-s3');
    this.sdk = sdk;
    const s = this.settings;
    this.client = new sdk.S3Client({
      region: s.region,
      ...(s.endpoint ? { endpoint: s.endpoint } : {}),
      forcePathStyle: s.forcePathStyle,
      ...(s.credentials ? { credentials: s.credentials } : {}),
      ...(s.profile ? { profile: s.profile } : {}),
      maxAttempts: 3,
    });
    await this.client.send(new sdk.HeadBucketCommand({ Bucket: this.bucket }));
  }

  private get s3(): { client: S3Client; sdk: typeof S3Sdk } {
    if (!this.client || !this.sdk) throw new Error('S3 storage used before open()');
    return { client: this.client, sdk: this.sdk };
  }

  async list(dir: string): Promise<string[]> {
    const { client, sdk } = this.s3;
    const base = `${this.key(dir)}/`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const res = await client.send(
        new sdk.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: base,
          Delimiter: '/',
          ContinuationToken: token,
        }),
      );
      for (const o of res.Contents ?? []) if (o.Key) names.push(o.Key.slice(base.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return names;
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    const { client, sdk } = this.s3;
    try {
      const res = await client.send(
        new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }),
      );
      return await res.Body!.transformToByteArray();
    } catch (err) {
      if ((err as S3ErrorLike).name === 'NoSuchKey' || status(err) === 404) return undefined;
      throw err;
    }
  }

  async put(path: string, bytes: Uint8Array): Promise<void> {
    const { client, sdk } = this.s3;
    await client.send(
      new sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key(path), Body: bytes }),
    );
  }

  async putIfAbsent(path: string, bytes: Uint8Array): Promise<boolean> {
    const { client, sdk } = this.s3;
    try {
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          Body: bytes,
          IfNoneMatch: '*',
        }),
      );
      return true;
    } catch (err) {
      const code = status(err);
      // 412: the key exists. 409: a concurrent conditional write to the same key is in progress.
      if (code === 412 || code === 409) return false;
      throw err;
    }
  }

  /** A PutObject replaces an object atomically. */
  async replace(path: string, bytes: Uint8Array): Promise<void> {
    await this.put(path, bytes);
  }

  async close(): Promise<void> {
    this.client?.destroy();
    this.client = undefined;
  }
}

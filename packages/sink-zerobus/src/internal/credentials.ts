import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@iotsim/core';

/** OAuth client credentials and the workspace that issues tokens. */
export interface DatabricksCredentials {
  readonly workspaceUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where each value came from, for logs (never the values). */
  readonly sources: Readonly<Record<'workspaceUrl' | 'clientId' | 'clientSecret', string>>;
}

/** Sections of an INI file (`[name]` then `key = value` lines), keys lower-cased. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]!) ?? new Map<string, string>();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.search(/[=:]/);
    if (eq <= 0 || !current) continue;
    current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return sections;
}

/** Explicit values from the sink options. */
export interface ExplicitCredentials {
  workspaceUrl?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  profile?: string | undefined;
}

/**
 * Resolves credentials as the Databricks SDKs do, per value: explicit option, then
 * DATABRICKS_HOST / DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET, then the profile
 * (option, else DATABRICKS_CONFIG_PROFILE, else DEFAULT) in DATABRICKS_CONFIG_FILE or
 * ~/.databrickscfg. Throws a ConfigError listing where it looked when something is missing.
 */
export async function resolveCredentials(
  explicit: ExplicitCredentials,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DatabricksCredentials> {
  const profileName = explicit.profile ?? env.DATABRICKS_CONFIG_PROFILE ?? 'DEFAULT';
  const file = env.DATABRICKS_CONFIG_FILE || join(env.HOME || homedir(), '.databrickscfg');
  const values = {
    workspaceUrl: { value: explicit.workspaceUrl, source: 'option workspace_url' },
    clientId: { value: explicit.clientId, source: 'option client_id' },
    clientSecret: { value: explicit.clientSecret, source: 'option client_secret' },
  };
  const envKeys = {
    workspaceUrl: 'DATABRICKS_HOST',
    clientId: 'DATABRICKS_CLIENT_ID',
    clientSecret: 'DATABRICKS_CLIENT_SECRET',
  } as const;
  const fileKeys = { workspaceUrl: 'host', clientId: 'client_id', clientSecret: 'client_secret' };
  type Key = keyof typeof values;
  const keys = Object.keys(values) as Key[];
  for (const k of keys) {
    if (!values[k].value && env[envKeys[k]]) {
      values[k] = { value: env[envKeys[k]], source: `environment ${envKeys[k]}` };
    }
  }
  let fileNote = '';
  if (keys.some((k) => !values[k].value) || explicit.profile) {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      fileNote = `${file} (${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `unreadable: ${(err as Error).message}`})`;
    }
    if (text !== undefined) {
      const section = parseIni(text).get(profileName);
      if (!section) {
        fileNote = `${file} (no profile [${profileName}])`;
        if (explicit.profile) {
          throw new ConfigError([
            {
              path: 'databricksProfile',
              message: `profile [${profileName}] is not in ${file}; add it or pick another profile`,
            },
          ]);
        }
      } else {
        fileNote = `${file} profile [${profileName}]`;
        for (const k of keys) {
          const v = section.get(fileKeys[k]);
          if (!values[k].value && v) values[k] = { value: v, source: `${file} [${profileName}]` };
        }
      }
    }
  }
  const missing = keys.filter((k) => !values[k].value);
  if (missing.length > 0) {
    const optionName = {
      workspaceUrl: 'workspace_url',
      clientId: 'client_id',
      clientSecret: 'client_secret',
    };
    throw new ConfigError(
      missing.map((k) => ({
        path: k,
        message: `no ${optionName[k]} found; looked in the option ${optionName[k]}, the environment variable ${envKeys[k]} and ${fileNote || `${file} profile [${profileName}]`} (key ${fileKeys[k]})`,
      })),
    );
  }
  const host = values.workspaceUrl.value!.replace(/\/+$/, '');
  return {
    workspaceUrl: /^https?:\/\//.test(host) ? host : `https://${host}`,
    clientId: values.clientId.value!,
    clientSecret: values.clientSecret.value!,
    sources: {
      workspaceUrl: values.workspaceUrl.source,
      clientId: values.clientId.source,
      clientSecret: values.clientSecret.source,
    },
  };
}

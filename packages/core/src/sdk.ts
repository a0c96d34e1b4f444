import { readFileSync } from 'node:fs';
import { SdkNotInstalledError } from './errors.js';

/** True when `err` says that `packageName` itself (not one of its dependencies) could not be found. */
export function isModuleMissing(err: unknown, packageName: string): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return err.message.includes(`'${packageName}'`) || err.message.includes(`"${packageName}"`);
}

/**
 * Loads a plugin's SDK. `load` is the plugin's own `() => import('pkg')`, so the package resolves
 * from the plugin's folder. When the package itself is missing this throws `SdkNotInstalledError`
 * (naming it and the install command); an SDK that is installed but fails to load keeps its own
 * error, so a broken install never reads as "not installed".
 *
 * @example
 * const kafkajs = await importSdk('kafkajs', () => import('kafkajs'), 'kafka sink');
 */
export async function importSdk<T>(
  packageName: string,
  load: () => Promise<T>,
  plugin: string,
  options: { hint?: string; alsoMissing?: readonly string[] } = {},
): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const missing = [packageName, ...(options.alsoMissing ?? [])].find((p) =>
      isModuleMissing(err, p),
    );
    if (missing)
      throw new SdkNotInstalledError(missing, plugin, { cause: err, hint: options.hint });
    throw err;
  }
}

/**
 * The name and version of the package whose module is `moduleUrl`, read from its package.json
 * `levels` folders up (2 for `src/internal/x.ts` and `dist/internal/x.js` alike, where package.json
 * sits beside `src/` and `dist/`), so what a sink sends on the wire is the package's own version.
 * Throws when that package.json is not `expectedName`'s (a moved file, a bundler).
 */
export function packageInfo(
  moduleUrl: string,
  expectedName: string,
  levels = 2,
): { readonly name: string; readonly version: string } {
  const file = new URL(`${'../'.repeat(levels)}package.json`, moduleUrl);
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
  if (pkg.name !== expectedName || typeof pkg.version !== 'string')
    throw new Error(
      `${expectedName}: ${file.href} is not this package's package.json (name ${String(pkg.name)})`,
    );
  return { name: pkg.name, version: pkg.version };
}

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

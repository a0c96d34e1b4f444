import { afterAll } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary directory; `remove()` deletes it. */
export async function tempDir(
  prefix = 'iotsim-test-',
): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * For one test file: returns `freshDir()`, which makes a new temporary directory on each call;
 * every one of them is removed after the file's tests.
 */
export function tempDirs(prefix = 'iotsim-test-'): () => Promise<string> {
  const removers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const remove of removers.splice(0)) await remove();
  });
  return async () => {
    const d = await tempDir(prefix);
    removers.push(d.remove);
    return d.path;
  };
}

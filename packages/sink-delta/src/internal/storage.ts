import { randomUUID } from 'node:crypto';
import {
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a table's files live: a local directory or an S3 prefix. Paths are relative to the table root, `/`-separated. */
export interface TableStorage {
  /** The table's location for messages (never credentials). */
  readonly location: string;
  /** Checks that the location is usable (creates a local directory). */
  open(): Promise<void>;
  /** File names directly inside `dir` (e.g. `_delta_log`); empty when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** A file's bytes, or undefined when it does not exist. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** Writes a file (data files: unique names, so no clash is possible). */
  put(path: string, bytes: Uint8Array): Promise<void>;
  /** Writes a file only if nothing exists at `path`: false when it already exists (a commit clash). */
  putIfAbsent(path: string, bytes: Uint8Array): Promise<boolean>;
  /** Writes or overwrites a file atomically: readers see the old or the new bytes, never a mix. */
  replace(path: string, bytes: Uint8Array): Promise<void>;
  /** Releases clients. */
  close(): Promise<void>;
}

/** The local directory of a table path (plain path or file:// URL). */
export function localTableDir(tablePath: string): string {
  return /^file:\/\//i.test(tablePath) ? fileURLToPath(tablePath) : resolve(tablePath);
}

/** A table in a local directory. Commits are atomic and exclusive through `link(2)`. */
export class LocalStorage implements TableStorage {
  readonly location: string;
  /** True once a filesystem refused hard links and exclusive create is used instead. */
  noHardLinks = false;

  constructor(readonly root: string) {
    this.location = root;
  }

  async open(): Promise<void> {
    await mkdir(join(this.root, '_delta_log'), { recursive: true });
    const s = await stat(this.root);
    if (!s.isDirectory()) throw new Error(`${this.root} is not a directory`);
  }

  async list(dir: string): Promise<string[]> {
    try {
      return await readdir(join(this.root, dir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(join(this.root, path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(path: string, bytes: Uint8Array): Promise<void> {
    const full = join(this.root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, bytes);
  }

  /**
   * Writes the whole file under a temporary name, syncs it, then hard-links it to `path`:
   * `link` fails with EEXIST when another writer took the version, and readers never see a
   * partial commit. Filesystems without hard links fall back to an exclusive create.
   */
  async putIfAbsent(path: string, bytes: Uint8Array): Promise<boolean> {
    const full = join(this.root, path);
    await mkdir(dirname(full), { recursive: true });
    if (this.noHardLinks) return this.createExclusive(full, bytes);
    const tmp = join(dirname(full), `_commit_${randomUUID()}.json.tmp`);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, full);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        this.noHardLinks = true;
        return this.createExclusive(full, bytes);
      }
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Writes a temporary file, syncs it and renames it over `path` (atomic on POSIX filesystems). */
  async replace(path: string, bytes: Uint8Array): Promise<void> {
    const full = join(this.root, path);
    await mkdir(dirname(full), { recursive: true });
    const tmp = join(dirname(full), `_replace_${randomUUID()}.tmp`);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, full);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    // Spark (Hadoop's local filesystem) keeps a checksum `.<name>.crc` beside the files it wrote;
    // beside new bytes it is wrong, and Spark would log checksum errors and retry on every load.
    await unlink(join(dirname(full), `.${basename(full)}.crc`)).catch(() => undefined);
  }

  private async createExclusive(full: string, bytes: Uint8Array): Promise<boolean> {
    let fh;
    try {
      fh = await open(full, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  }

  async close(): Promise<void> {}
}

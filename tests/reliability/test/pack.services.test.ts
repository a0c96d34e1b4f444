// The published form (issue 16): scripts/pack-test.sh packs every public package with pnpm, checks
// the tarballs, installs them with plain npm into empty projects outside the repository and runs
// the README's Quick start commands and TypeScript snippet against them. A services test because
// it needs the npm registry for the third-party dependencies (and takes 1-3 minutes).
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

interface PackTest {
  ok: boolean;
  tarballs: { name: string; bytes: number; files: number }[];
  private: string[];
  native: string[];
  installSeconds: Record<string, number>;
  totalSeconds: number;
}

function publicPackages(): string[] {
  const names: string[] = [];
  for (const dir of [
    ...readdirSync(join(ROOT, 'packages')).map((d) => join('packages', d)),
    ...readdirSync(join(ROOT, 'apps')).map((d) => join('apps', d)),
  ]) {
    const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
    };
    if (!pkg.private) names.push(pkg.name);
  }
  return names.sort();
}

function packTest(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts/pack-test.sh')], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', IOTSIM_SERVICES: '' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('the published packages (scripts/pack-test.sh)', () => {
  it('pack, install with npm outside the repo, and run the Quick start', async () => {
    const { code, out } = await packTest();
    process.stderr.write(out);
    expect(code).toBe(0);
    const line = out.split('\n').find((l) => l.startsWith('PACK_TEST '));
    expect(line).toBeDefined();
    const result = JSON.parse(line!.slice('PACK_TEST '.length)) as PackTest;
    expect(result.ok).toBe(true);
    expect(result.tarballs.map((t) => t.name).sort()).toEqual(publicPackages());
    expect(result.private).toEqual(
      expect.arrayContaining([
        '@iotsim/test-utils',
        '@iotsim/reliability-tests',
        '@iotsim/bench',
        '@iotsim/examples',
      ]),
    );
    // The only native module of the whole set is SQLite's, from @iotsim/sink-database.
    expect(result.native.filter((n) => n !== 'better-sqlite3')).toEqual([]);
  }, 900_000);
});

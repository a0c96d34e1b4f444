#!/usr/bin/env node
// Checks the tarballs `scripts/pack-test.sh` packed: node scripts/pack-check.mjs PACKAGES.tsv TGZ_DIR
// PACKAGES.tsv: name<TAB>folder<TAB>public|private, one workspace package a line.
// Every public package has exactly one tarball holding package.json, README.md, LICENSE,
// CHANGELOG.md and dist/ (with its `main`/`exports`/`bin` targets); no `workspace:` or `link:` /
// `file:` range anywhere in the packed package.json; every @iotsim/* it depends on (dependencies,
// peer, optional) is public and packed too; no private package is packed. Prints JSON (sizes).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [tsv, dir] = process.argv.slice(2);
if (!tsv || !dir) throw new Error('usage: pack-check.mjs PACKAGES.tsv TGZ_DIR');
const packages = readFileSync(tsv, 'utf8')
  .trim()
  .split('\n')
  .map((line) => {
    const [name, folder, visibility] = line.split('\t');
    return { name, folder, isPublic: visibility === 'public' };
  });
const publicNames = new Set(packages.filter((p) => p.isPublic).map((p) => p.name));
const problems = [];
const tarballs = [];
const fileOf = (name) => name.replace(/^@/, '').replace('/', '-');
const files = readdirSync(dir).filter((f) => f.endsWith('.tgz'));

for (const p of packages) {
  const own = files.filter((f) => new RegExp(`^${fileOf(p.name)}-\\d`).test(f));
  if (!p.isPublic) {
    if (own.length) problems.push(`${p.name} is private but was packed: ${own.join(', ')}`);
    continue;
  }
  if (own.length !== 1) {
    problems.push(`${p.name}: expected one tarball, found ${own.length}`);
    continue;
  }
  const file = own[0];
  const path = join(dir, file);
  const list = execFileSync('tar', ['tzvf', path], { encoding: 'utf8' }).trim().split('\n');
  const entries = new Map();
  for (const line of list) {
    const cols = line.trim().split(/\s+/);
    entries.set(
      cols
        .slice(5)
        .join(' ')
        .replace(/^package\//, ''),
      Number(cols[2]),
    );
  }
  for (const need of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'])
    if (!entries.has(need)) problems.push(`${file}: no ${need}`);
  if (![...entries.keys()].some((e) => e.startsWith('dist/'))) problems.push(`${file}: no dist/`);
  for (const e of entries.keys())
    if (/(^|\/)(src|test)\//.test(e) || /\.test\.[jt]s$|tsconfig|jest\.config/.test(e))
      problems.push(`${file}: holds a source or test file: ${e}`);
  const text = execFileSync('tar', ['xzOf', path, 'package/package.json'], { encoding: 'utf8' });
  if (/"(workspace|link|file):/.test(text))
    problems.push(`${file}: package.json has a workspace:/link:/file: range`);
  const pkg = JSON.parse(text);
  if (pkg.private) problems.push(`${file}: package.json says private`);
  if (pkg.license !== 'MIT') problems.push(`${file}: license is ${pkg.license}`);
  if (!pkg.repository?.url?.includes('github.com/iotsim/iotsim'))
    problems.push(`${file}: no repository url (npm provenance needs it)`);
  if (pkg.publishConfig?.access !== 'public')
    problems.push(`${file}: publishConfig.access is not public`);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'])
    for (const dep of Object.keys(pkg[field] ?? {}))
      if (dep.startsWith('@iotsim/') && !publicNames.has(dep))
        problems.push(`${file}: ${field} names ${dep}, which is not published`);
  const targets = new Set();
  const collect = (v) => {
    if (typeof v === 'string') targets.add(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
  };
  collect(pkg.main);
  collect(pkg.types);
  collect(pkg.bin);
  collect(pkg.exports);
  for (const t of targets)
    if (!entries.has(t))
      problems.push(`${file}: ${t} (main/types/bin/exports) is not in the tarball`);
  tarballs.push({
    name: p.name,
    file,
    bytes: statSync(path).size,
    files: entries.size,
    unpackedBytes: [...entries.values()].reduce((a, b) => a + b, 0),
  });
}
for (const f of files)
  if (!tarballs.some((t) => t.file === f)) problems.push(`unexpected tarball ${f}`);

if (problems.length) {
  for (const p of problems) console.error(`pack-check: ${p}`);
  process.exit(1);
}
console.log(
  JSON.stringify({ tarballs, private: packages.filter((p) => !p.isPublic).map((p) => p.name) }),
);

// The release and CI workflows cannot run here: their YAML is parsed and their key settings
// checked (changesets/action, npm provenance, the id-token permission, .ci/run).
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';

const workflow = (name: string): Record<string, unknown> =>
  load(
    readFileSync(
      fileURLToPath(new URL(`../../../.github/workflows/${name}`, import.meta.url)),
      'utf8',
    ),
  ) as Record<string, unknown>;

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
const steps = (w: Record<string, unknown>, job: string): Step[] =>
  ((w.jobs as Record<string, { steps: Step[] }>)[job]?.steps ?? []) as Step[];

describe('.github/workflows', () => {
  it('release.yml: changesets version PRs and provenance publishes', () => {
    const w = workflow('release.yml');
    expect(w.permissions).toEqual({
      contents: 'write',
      'pull-requests': 'write',
      'id-token': 'write',
    });
    const s = steps(w, 'release');
    const changesets = s.find((x) => x.uses?.startsWith('changesets/action@'));
    expect(changesets?.with?.version).toBe('pnpm changeset version');
    expect(changesets?.with?.publish).toMatch(/^pnpm -r publish .*--provenance/);
    expect(changesets?.env?.NPM_CONFIG_PROVENANCE).toBe('true');
    expect(s.some((x) => x.run?.includes('scripts/pack-test.sh'))).toBe(true);
    expect(s.some((x) => x.run?.includes('--frozen-lockfile'))).toBe(true);
  });

  it('ci.yml runs .ci/run', () => {
    const w = workflow('ci.yml');
    expect(steps(w, 'test').some((x) => x.run === 'bash .ci/run')).toBe(true);
  });
});

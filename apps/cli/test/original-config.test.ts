import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Simulator } from '@iotsim/core';

describe("the original README's full YAML example", () => {
  // No CLI code and no registration: core's first-party table resolves each package from the
  // config file's folder upwards (here apps/cli/node_modules, pnpm's isolated layout).
  it('loads unchanged: every sink of it is built by its package, with its options', async () => {
    const sim = await Simulator.fromConfig(
      fileURLToPath(new URL('./fixtures/original-readme.yaml', import.meta.url)),
    );
    expect(sim.config!.industries).toEqual(['mining', 'utilities']);
    expect(sim.sensorCount).toBe(17 + 18 + 2);
    const sinks = sim.listSinks();
    expect(sinks.map((s) => s.type)).toEqual([
      'console',
      'kafka',
      'file',
      'database',
      'webhook',
      'delta',
      'zerobus',
    ]);
    // Credentials from the YAML never show in a sink's description.
    expect(sinks.map((s) => s.describe()).join('\n')).not.toMatch(/user:pass|Bearer my-token/);
  });
});

import { closestNames, listIndustries, type ConfigIssue } from '@iotsim/core';

/** One problem per unknown name given to `--industries`, with a did-you-mean. */
export function industryFlagProblems(names: readonly string[]): ConfigIssue[] {
  const known = listIndustries();
  return names
    .filter((name) => !known.includes(name))
    .map((name) => {
      const hint = closestNames(name, known);
      return {
        path: '--industries',
        message: `unknown industry '${name}': ${hint.length ? `did you mean ${hint.map((h) => `'${h}'`).join(' or ')}?` : "run 'iotsim list-industries' to see them"}`,
      };
    });
}

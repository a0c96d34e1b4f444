import { ConfigError, type ConfigIssue } from '@iotsim/core';

/** An existing table does not match what this sink writes (schema, partitioning, protocol). */
export class DeltaTableMismatchError extends ConfigError {
  constructor(location: string, issues: readonly ConfigIssue[]) {
    super(issues.map((i) => ({ path: i.path, message: `Delta table ${location}: ${i.message}` })));
  }
}

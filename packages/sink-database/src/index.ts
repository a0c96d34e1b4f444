export { DatabaseSink } from './database-sink.js';
export type {
  DatabaseSinkOptions,
  DatabaseTarget,
  PostgresTarget,
  ResolvedDatabaseOptions,
  SqliteTarget,
  TableName,
} from './options.js';

export { DatabaseSink } from './database-sink.js';
export {
  ACCEPTED_FORMS,
  DEFAULT_CONNECTION_STRING,
  DEFAULT_TABLE,
  parseConnectionString,
  parseTableName,
  type DatabaseSinkOptions,
  type DatabaseTarget,
  type PostgresTarget,
  type ResolvedDatabaseOptions,
  type SqliteTarget,
  type TableName,
} from './options.js';
export { SENSOR_COLUMNS, type ColumnKind, type ColumnSpec } from './columns.js';

import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CliIo } from '../cli.js';
import { EXIT } from '../errors.js';

/** The starter config `init-config` writes; `iotsim run --config` accepts it as is. */
export const STARTER_CONFIG = `# yaml-language-server: $schema=iotsim.schema.json
# iotsim configuration (the Python original's format; snake_case keys).
# The first line lets editors complete and check this file; write the schema with: iotsim schema -o iotsim.schema.json
simulator:
  industries: [mining, utilities]
  update_rate_hz: 2.0
  duration_s: 60            # optional: stop after 60 s (omit to run until Ctrl-C)
  log_level: INFO
  # seed: 42                # same seed, same values
  # start: "-1d"            # backfill: generate a simulated range as fast as the sinks accept
  # end: now

# Optional: your own sensors, under an industry label of your choice
custom_sensors:
  industry: smart_office
  sensors:
    - name: room_temperature
      sensor_type: temperature
      unit: "°C"
      min_value: 15.0
      max_value: 35.0
      nominal_value: 22.0
      noise_std: 0.3
      cyclic: true
      cycle_period_seconds: 3600
    - name: co2_level
      sensor_type: level
      unit: ppm
      min_value: 400
      max_value: 2000
      nominal_value: 600
      noise_std: 15.0
      anomaly_probability: 0.005

# Each sink has its own throughput control: rate_hz, batch_size, max_buffer_size,
# backpressure (drop_oldest, drop_newest, block), retry_count, retry_delay_s.
sinks:
  - type: console
    fmt: text
    rate_hz: 0.5

  # - type: file                      # npm install @iotsim/sink-file
  #   path: ./output
  #   format: parquet                 # csv, json or parquet
  #   rotation: 1h
  #   rate_hz: 0.1
  #   batch_size: 500

  # - type: kafka                     # npm install @iotsim/sink-kafka
  #   bootstrap_servers: localhost:9092
  #   topic: iot-data
  #   compression: snappy
  #   sasl_password: \${KAFKA_PASSWORD}   # values may reference environment variables
  #   rate_hz: 2.0
  #   batch_size: 50

  # - type: database                  # npm install @iotsim/sink-database
  #   connection_string: sqlite+aiosqlite:///sensor_data.db
  #   table: sensor_data
  #   batch_size: 200
`;

/**
 * `iotsim init-config [-o FILE]`: writes the starter config to a file or stdout; with a file, also
 * writes the config's JSON Schema beside it (`iotsim.schema.json`, named by the config's first line).
 */
export async function initConfigCommand(output: string | undefined, io: CliIo): Promise<number> {
  if (!output) {
    io.stdout.write(STARTER_CONFIG);
    return EXIT.ok;
  }
  await writeFile(output, STARTER_CONFIG, { flag: 'wx' }).catch(
    async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST')
        throw new (await import('../errors.js')).UsageError(
          `${output} already exists; remove it or pick another --output`,
        );
      throw err;
    },
  );
  const { configSchemaText, SCHEMA_FILE } = await import('./schema.js');
  const schemaPath = join(dirname(output), SCHEMA_FILE);
  await writeFile(schemaPath, await configSchemaText());
  io.stderr.write(
    `wrote ${output} and ${schemaPath} (editors complete and check the config with it); run it with: iotsim run --config ${output}\n`,
  );
  return EXIT.ok;
}

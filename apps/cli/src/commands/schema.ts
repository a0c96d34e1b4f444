import { writeFile } from 'node:fs/promises';
import { configJsonSchema } from '@iotsim/core';
import type { CliIo } from '../cli.js';
import { EXIT } from '../errors.js';
import { cliRegistry } from '../sinks.js';

/** The file name `init-config` writes the schema to, beside the config. */
export const SCHEMA_FILE = 'iotsim.schema.json';

/** The JSON Schema text of the YAML config, with every sink and server installed beside the CLI. */
export async function configSchemaText(): Promise<string> {
  return `${JSON.stringify(await configJsonSchema(cliRegistry()), null, 2)}\n`;
}

/** `iotsim schema [-o FILE]`: prints (or writes) the JSON Schema of the YAML config. */
export async function schemaCommand(output: string | undefined, io: CliIo): Promise<number> {
  const text = await configSchemaText();
  if (!output) {
    io.stdout.write(text);
    return EXIT.ok;
  }
  await writeFile(output, text);
  io.stderr.write(
    `wrote ${output}; point your editor at it with a first line '# yaml-language-server: $schema=${output}'\n`,
  );
  return EXIT.ok;
}

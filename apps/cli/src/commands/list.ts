import { getIndustrySensors, INDUSTRY_CATALOG_COUNTS, listIndustries } from '@iotsim/core';
import type { CliIo } from '../cli.js';
import { EXIT } from '../errors.js';
import {
  cliRegistry,
  FIRST_PARTY_SERVERS,
  FIRST_PARTY_SINKS,
  type FirstPartyPlugin,
} from '../sinks.js';

/** `iotsim list-industries`: each industry with its sensor count, and the total. */
export function listIndustriesCommand(io: CliIo): number {
  const rule = '-'.repeat(34);
  const lines = [`${'Industry'.padEnd(26)}${'Sensors'.padStart(7)}`, rule];
  let total = 0;
  for (const industry of listIndustries()) {
    const n = INDUSTRY_CATALOG_COUNTS[industry]!;
    total += n;
    lines.push(`${industry.padEnd(26)}${String(n).padStart(7)}`);
  }
  lines.push(rule, `${'TOTAL'.padEnd(26)}${String(total).padStart(7)}`);
  io.stdout.write(lines.join('\n') + '\n');
  return EXIT.ok;
}

/** `iotsim list-sensors <industry>`: name, type, unit and range of every sensor. */
export function listSensorsCommand(industry: string, io: CliIo): number {
  const sensors = getIndustrySensors(industry, 'industry');
  const f = (n: number): string => n.toFixed(2);
  const lines = [
    `Sensors for '${industry}' (${sensors.length} sensors):`,
    '',
    `${'Name'.padEnd(37)}${'Type'.padEnd(15)}${'Unit'.padEnd(6)}${'Min'.padStart(10)}${'Max'.padStart(11)}${'Nominal'.padStart(11)}`,
    '-'.repeat(90),
  ];
  for (const s of sensors) {
    lines.push(
      `${s.name.padEnd(37)}${s.sensorType.padEnd(15)}${s.unit.padEnd(6)}${f(s.minValue).padStart(10)}${f(s.maxValue).padStart(11)}${f(s.nominalValue).padStart(11)}`,
    );
  }
  io.stdout.write(lines.join('\n') + '\n');
  return EXIT.ok;
}

/** `iotsim list-sinks`: every sink type, its class, and the package to install. */
export function listSinksCommand(io: CliIo): number {
  io.stdout.write(pluginTable('Sink Type', FIRST_PARTY_SINKS) + '\n');
  return EXIT.ok;
}

/** `iotsim list-servers`: every server type, its class, and the package to install. */
export function listServersCommand(io: CliIo): number {
  io.stdout.write(pluginTable('Server Type', FIRST_PARTY_SERVERS) + '\n');
  return EXIT.ok;
}

function pluginTable(title: string, table: Readonly<Record<string, FirstPartyPlugin>>): string {
  const registry = cliRegistry();
  const lines = [
    `${title.padEnd(15)}${'Class'.padEnd(21)}${'Install'.padEnd(42)}Status`,
    '-'.repeat(88),
  ];
  for (const [type, s] of Object.entries(table)) {
    const builtIn = s.packageName === '@iotsim/core';
    const install = builtIn ? '(built-in)' : `npm install ${s.packageName}`;
    const installed =
      builtIn || registry.isInstalled({ module: s.packageName, exportName: s.exportName });
    lines.push(
      `${type.padEnd(15)}${s.exportName.padEnd(21)}${install.padEnd(42)}${installed ? 'installed' : 'not installed'}`,
    );
  }
  return lines.join('\n');
}

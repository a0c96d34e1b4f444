import {
  ConfigError,
  DataGenerator,
  importSdk,
  loadConfigFile,
  type ConfigIssue,
} from '@iotsim/core';
import type { WordOrder } from '@iotsim/server-modbus';
import type { CliIo, ModbusMapArgs } from '../cli.js';
import { industryFlagProblems } from '../flags.js';
import { EXIT } from '../errors.js';

/**
 * `iotsim modbus-map`: the Modbus register map of a run (flags or a config) as CSV, built by the
 * same function the modbus server serves from.
 */
export async function modbusMapCommand(args: ModbusMapArgs, io: CliIo): Promise<number> {
  const modbus = await importSdk(
    '@iotsim/server-modbus',
    () => import('@iotsim/server-modbus'),
    'iotsim modbus-map',
  );
  const problems: ConfigIssue[] = [];
  let industries = args.industries;
  let devices = args.devices;
  let wordOrder = args.wordOrder;
  const config = args.config ? loadConfigFile(args.config) : undefined;
  if (config) {
    industries ??= config.industries;
    devices ??= config.devicesPerIndustry;
    const entry = config.servers.find((s) => s.type === 'modbus');
    const fromConfig = entry?.options.word_order;
    if (wordOrder === undefined && typeof fromConfig === 'string') wordOrder = fromConfig;
  }
  industries ??= config?.customSensors.length ? [] : ['mining'];
  devices ??= 1;
  if (!Number.isInteger(devices) || devices < 1)
    problems.push({ path: '--devices', message: `must be a whole number >= 1, got ${devices}` });
  problems.push(...industryFlagProblems(industries));
  // The server's own option check: the same choices and message as `word_order` in YAML.
  let order: WordOrder = 'ABCD';
  try {
    order = modbus.ModbusServer.fromConfig(
      wordOrder === undefined ? {} : { word_order: wordOrder },
    ).wordOrder;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.issues.map((i) => ({ ...i, path: '--word-order' })));
  }
  if (problems.length) throw new ConfigError(problems);
  const generator = new DataGenerator({ industries, devicesPerIndustry: devices, seed: 0 });
  for (const group of config?.customSensors ?? [])
    generator.addResolved(group.sensors, group.industry);
  const map = modbus.buildModbusMap(generator.channelTable(), order);
  io.stdout.write(modbus.modbusMapCsv(map));
  return EXIT.ok;
}

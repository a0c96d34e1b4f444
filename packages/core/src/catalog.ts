import { readFileSync } from 'node:fs';
import { UnknownIndustryError, closestNames } from './errors.js';
import {
  checkSensorConfig,
  sensorConfigFromInput,
  type ResolvedSensorConfig,
  type SensorConfigInput,
} from './models.js';

/**
 * The Python original's catalog, kept once as its JSON (`catalog/industries.json` beside `src/`
 * and `dist/`), read on first use. One correction is applied as it loads: a cyclic sensor whose
 * cycle plus three standard deviations of noise overshoots its own range gets 80 % of the
 * amplitude that fits, rounded down to 0.001 (catalog/README.md lists the seven it changes).
 */
function loadCatalog(): Readonly<Record<string, readonly SensorConfigInput[]>> {
  const file = new URL('../catalog/industries.json', import.meta.url);
  const { industries } = JSON.parse(readFileSync(file, 'utf8')) as {
    industries: Record<string, SensorConfigInput[]>;
  };
  for (const sensors of Object.values(industries)) {
    for (const s of sensors) {
      if (!s.cyclic) continue;
      const amplitude = s.cycle_amplitude ?? 0.1;
      const headroom = Math.min(s.max_value - s.nominal_value, s.nominal_value - s.min_value);
      const noise = 3 * (s.noise_std ?? 0.01);
      if (amplitude * Math.abs(s.nominal_value) + noise <= headroom) continue;
      const fitted = (0.8 * (headroom - noise)) / Math.abs(s.nominal_value);
      s.cycle_amplitude = Math.max(0, Math.floor(fitted * 1000) / 1000);
    }
  }
  return industries;
}

let catalog: Readonly<Record<string, readonly SensorConfigInput[]>> | undefined;
const INDUSTRY_CATALOG = (): Readonly<Record<string, readonly SensorConfigInput[]>> =>
  (catalog ??= loadCatalog());

/** The 16 built-in industries, so editors complete them (a test keeps the list equal to the catalog). */
export type BuiltInIndustry =
  | 'mining'
  | 'utilities'
  | 'manufacturing'
  | 'oil_gas'
  | 'aerospace'
  | 'space'
  | 'water_wastewater'
  | 'electric_power'
  | 'automotive'
  | 'chemical'
  | 'food_beverage'
  | 'pharmaceutical'
  | 'data_center'
  | 'smart_building'
  | 'agriculture'
  | 'renewable_energy';

/** An industry name: a built-in one (completed by editors) or any other label (custom sensors). */
export type IndustryName = BuiltInIndustry | (string & {});

const cache = new Map<string, readonly ResolvedSensorConfig[]>();

/** Names of the 16 built-in industries, in catalog order. */
export function listIndustries(): string[] {
  return Object.keys(INDUSTRY_CATALOG());
}

/** True when `name` is a built-in industry. */
export function isIndustry(name: string): boolean {
  return Object.hasOwn(INDUSTRY_CATALOG(), name);
}

/** The built-in sensors of an industry; throws UnknownIndustryError with the closest names. */
export function getIndustrySensors(industry: string, path = ''): readonly ResolvedSensorConfig[] {
  const hit = cache.get(industry);
  if (hit) return hit;
  if (!isIndustry(industry)) {
    throw new UnknownIndustryError(industry, closestNames(industry, listIndustries()), path);
  }
  const sensors = INDUSTRY_CATALOG()[industry]!.map((input, i) => {
    const { config, issues } = checkSensorConfig(
      sensorConfigFromInput({ ...input }),
      `${industry}[${i}].`,
    );
    if (!config) throw new Error(`built-in catalog is invalid: ${JSON.stringify(issues)}`);
    return config;
  });
  cache.set(industry, Object.freeze(sensors));
  return sensors;
}

/** Total number of built-in sensors (379). */
export function catalogSensorCount(): number {
  return listIndustries().reduce((n, i) => n + INDUSTRY_CATALOG()[i]!.length, 0);
}

/** Sensor count of each built-in industry. */
export const INDUSTRY_CATALOG_COUNTS: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(Object.entries(INDUSTRY_CATALOG()).map(([k, v]) => [k, v.length])),
);

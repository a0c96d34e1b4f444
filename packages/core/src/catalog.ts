import { INDUSTRY_CATALOG } from './catalog/industries.js';
import { UnknownIndustryError, closestNames } from './errors.js';
import { checkSensorConfig, sensorConfigFromInput, type ResolvedSensorConfig } from './models.js';

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
  return Object.keys(INDUSTRY_CATALOG);
}

/** True when `name` is a built-in industry. */
export function isIndustry(name: string): boolean {
  return Object.hasOwn(INDUSTRY_CATALOG, name);
}

/** The built-in sensors of an industry; throws UnknownIndustryError with the closest names. */
export function getIndustrySensors(industry: string, path = ''): readonly ResolvedSensorConfig[] {
  const hit = cache.get(industry);
  if (hit) return hit;
  if (!isIndustry(industry)) {
    throw new UnknownIndustryError(industry, closestNames(industry, listIndustries()), path);
  }
  const sensors = INDUSTRY_CATALOG[industry]!.map((input, i) => {
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
  return listIndustries().reduce((n, i) => n + INDUSTRY_CATALOG[i]!.length, 0);
}

/** Sensor count of each built-in industry. */
export const INDUSTRY_CATALOG_COUNTS: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(Object.entries(INDUSTRY_CATALOG).map(([k, v]) => [k, v.length])),
);

/** Namespace of the UNECE Recommendation 20 unit codes in OPC UA's EUInformation. */
export const UNECE_NAMESPACE = 'http://www.opcfoundation.org/UA/units/un/cefact';

/** UNECE Rec. 20 common codes of the catalog's units; units not listed have no code (unitId -1). */
const COMMON_CODES: Readonly<Record<string, string>> = {
  'm/s': 'MTS',
  '°C': 'CEL',
  A: 'AMP',
  'mm/s': 'C16',
  kW: 'KWT',
  bar: 'BAR',
  RPM: 'RPM',
  LPM: 'L2',
  'L/min': 'L2',
  MW: 'MAW',
  GPM: 'G2',
  PSI: 'PS',
  'μS/cm': 'G42',
  'mS/cm': 'H61',
  'm/min': '2X',
  m: 'MTR',
  CFM: '2L',
  'BBL/day': 'B1',
  'kg/m³': 'KMQ',
  '%': 'P1',
  BBL: 'BLL',
  deg: 'DD',
  '°': 'DD',
  'kg/h': 'E93',
  ft: 'FOT',
  kg: 'KGM',
  'deg/s': 'E96',
  V: 'VLT',
  W: 'WTT',
  'mg/L': 'M1',
  'kg/s': 'KGS',
  kPa: 'KPA',
  kV: 'KVT',
  kA: 'B22',
  Hz: 'HTZ',
  MVA: 'MVA',
  'm³/h': 'MQH',
  Pa: 'PAL',
  Nm: 'NU',
  mbar: 'MBR',
  mm: 'MMT',
  ton: 'TNE',
  ppm: '59',
  cP: 'C7',
  s: 'SEC',
  mL: 'MLT',
  'g/L': 'GL',
  kN: 'B47',
  mg: 'MGM',
  g: 'GRM',
  min: 'MIN',
  lux: 'LUX',
  'W/m²': 'D54',
};

/** The EUInformation fields of a unit string: UNECE code and unitId where known, else unitId -1. */
export function unitInformation(unit: string): {
  namespaceUri: string;
  unitId: number;
  code: string | undefined;
  displayName: string;
} {
  const code = COMMON_CODES[unit];
  return {
    namespaceUri: UNECE_NAMESPACE,
    unitId: code ? unitId(code) : -1,
    code,
    displayName: unit,
  };
}

/** OPC UA Part 8: the UnitId of a common code is its ASCII bytes, most significant first. */
export function unitId(code: string): number {
  let id = 0;
  for (const ch of code) id = (id << 8) | ch.charCodeAt(0);
  return id;
}

// Your own sensors beside a built-in industry, with metadata tags, collected by a callback.
// Run: node examples/dist/custom-sensors.js
import { Simulator, SensorType, type SensorConfig, type SensorRecord } from '@iotsim/core';

const mySensors: SensorConfig[] = [
  {
    name: 'room_temperature',
    sensorType: SensorType.TEMPERATURE,
    unit: '°C',
    minValue: 15,
    maxValue: 35,
    nominalValue: 22,
    noiseStd: 0.3,
    cyclic: true,
    cyclePeriodSeconds: 3600,
    metadata: { floor: 3, building: 'HQ' },
  },
  {
    name: 'co2_level',
    sensorType: SensorType.LEVEL,
    unit: 'ppm',
    minValue: 400,
    maxValue: 2000,
    nominalValue: 600,
    noiseStd: 15,
    anomalyProbability: 0.005,
  },
];

const sim = new Simulator({
  industries: ['mining'],
  customSensors: mySensors,
  customIndustry: 'smart_office',
  seed: 42,
  // A simulated hour, generated as fast as the callback takes it.
  start: '2024-06-01T08:00:00Z',
  end: '2024-06-01T09:00:00Z',
});
console.log(`sensors: ${sim.sensorCount}`);

const all: SensorRecord[] = [];
sim.addSink((records) => {
  all.push(...records);
});
await sim.run();

const office = all.filter((r) => r.industry === 'smart_office');
const co2 = office.filter((r) => r.sensor_name === 'co2_level').map((r) => r.value);
console.log(`records: ${all.length}, smart_office: ${office.length}`);
console.log(`co2 min ${Math.min(...co2).toFixed(1)} max ${Math.max(...co2).toFixed(1)} ppm`);
console.log(`faults: ${all.filter((r) => r.fault_active).length}`);
console.log(`tags: ${JSON.stringify(office[0]!.metadata)}`);

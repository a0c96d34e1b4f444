export { ModbusServer } from './modbus-server.js';
export type { ModbusServerOptions, WordOrder } from './options.js';
export {
  buildModbusMap,
  modbusMapCsv,
  type ModbusMap,
  type ModbusMapRow,
  type ModbusTable,
  type ModbusUnit,
} from './modbus-map.js';

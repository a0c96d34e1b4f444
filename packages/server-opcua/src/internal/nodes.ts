import type { ChannelTable, TableChannel } from '@iotsim/core';

/** Browse name of the root object under Objects. */
export const ROOT_NAME = 'IoTSim';

/** The string identifier of a channel's variable (`s=` part of its node id): `industry/device/sensor`. */
export function sensorPath(c: TableChannel): string {
  return `${c.industry}/${c.deviceId}/${c.sensorName}`;
}

/** The browse path of a channel's variable from the Objects folder. */
export function browsePath(c: TableChannel): string {
  return `Objects/${ROOT_NAME}/${sensorPath(c)}`;
}

/**
 * The channel indices a method's `path` names: a sensor (`mining/mining-001/conveyor_speed`), a
 * device (`mining/mining-001`, all its sensors) or an industry (`mining`). Built once per table.
 */
export class PathIndex {
  private readonly byPath = new Map<string, number[]>();

  constructor(table: ChannelTable) {
    for (const c of table.channels) {
      for (const key of [c.industry, `${c.industry}/${c.deviceId}`, sensorPath(c)]) {
        let list = this.byPath.get(key);
        if (!list) this.byPath.set(key, (list = []));
        list.push(c.index);
      }
    }
  }

  /** The channels of `path` (leading/trailing slashes ignored), or undefined when it names nothing. */
  resolve(path: string): readonly number[] | undefined {
    return this.byPath.get(path.trim().replace(/^\/+|\/+$/g, ''));
  }
}

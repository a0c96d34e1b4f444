import { connect } from 'node:net';
import { HttpServer, type LiveStateJson } from '@iotsim/core';
import { describeServerConformance } from '../src/index.js';

// The first-party `http` server of core runs the server suite here (core cannot depend on
// test-utils). The client is Node's own fetch.
describeServerConformance('HttpServer', {
  create: (port) => HttpServer.fromConfig({ port }),
  async read(_server, port, channels, plant) {
    const res = await fetch(`http://127.0.0.1:${port}/state`);
    const state = (await res.json()) as LiveStateJson;
    return channels.map((c) => {
      const ch = plant.table.channels[c]!;
      return state.industries[ch.industry]![ch.deviceId]![ch.sensorName]!.value ?? NaN;
    });
  },
  async connect(port) {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    // An HTTP keep-alive session: a request is made, the connection stays open.
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    socket.on('data', () => {});
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return {
      closed,
      close: async () => {
        socket.destroy();
        await closed;
      },
    };
  },
});

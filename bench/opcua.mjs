// OPC UA server at scale: all 16 industries × 30 devices (11,370 sensors) at 1 Hz, with one
// subscriber (a node-opcua client in a child process, so it has its own core) monitoring every
// sensor variable. The child counts the notifications it receives; the parent ticks the plant,
// measures its own CPU (process.cpuUsage: generator + node-opcua server) and RSS over the soak.
//   node bench/opcua.mjs soak          BENCH_SOAK_S seconds (default 60)
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLoad, peakRssMb, report, scenarioArg } from './lib.mjs';

export const scenarios = ['soak'];

const DEVICES = 30;
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 60);

if (process.argv[2] === '__client') await client(process.argv[3], Number(process.argv[4]));
else await server(scenarioArg('soak'));

async function server(scenario) {
  const { DataGenerator, LiveState, listIndustries } = await import('@iotsim/core');
  const { OpcUaServer } = await import('@iotsim/server-opcua');
  const load1m = machineLoad();
  const generator = new DataGenerator({
    industries: listIndustries(),
    devicesPerIndustry: DEVICES,
    seed: 1,
  });
  const table = generator.channelTable();
  const state = new LiveState(table);
  let k = Math.floor(Date.now() / 1000);
  let publishMs = 0;
  let ticks = 0;
  let soaking = false;
  const soakStamps = [];
  const tick = () => {
    if (soaking) soakStamps.push(k * 1000);
    const frame = generator.generate(k, Float64Array.of(k), 1);
    k++;
    const t0 = performance.now();
    state.publish(frame);
    publishMs += performance.now() - t0;
    ticks++;
  };
  tick();
  const quiet = () => {};
  const logger = {
    debug: quiet,
    info: quiet,
    warn: (m) => process.stderr.write(`${m}\n`),
    error: (m) => process.stderr.write(`${m}\n`),
  };
  const pki = mkdtempSync(join(tmpdir(), 'iotsim-bench-opcua-'));
  const port = await freePort();
  const opcua = new OpcUaServer({ port, pkiDir: pki });
  const t0 = performance.now();
  await opcua.start(state, {
    logger,
    channels: table,
    control: generator.control,
    rateHz: 1,
    name: 'opcua',
  });
  const startS = (performance.now() - t0) / 1000;

  // 1 Hz on the wall clock while the client browses and subscribes, then over the soak.
  let timer;
  const schedule = () => {
    timer = setTimeout(
      () => {
        tick();
        schedule();
      },
      1000 - (Date.now() % 1000),
    );
  };
  schedule();
  const child = fork(
    fileURLToPath(import.meta.url),
    ['__client', `opc.tcp://127.0.0.1:${port}`, String(table.length)],
    {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const fromChild = (type) =>
    new Promise((resolve, reject) => {
      const on = (m) => {
        if (m.type === type) {
          child.off('message', on);
          resolve(m);
        }
      };
      child.on('message', on);
      child.once('exit', (code) => reject(new Error(`client exited ${code} before '${type}'`)));
    });
  const ready = await fromChild('ready');

  // Soak: the ticks published in the window; the client counts notifications per SourceTimestamp.
  await new Promise((r) => setTimeout(r, 2000));
  soaking = true;
  const ticks0 = ticks;
  const publish0 = publishMs;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const rssStartMb = Math.round(process.memoryUsage().rss / 1e6);
  const heapStartMb = heapMb();
  await new Promise((r) => setTimeout(r, SOAK_S * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wallS = (performance.now() - wall0) / 1000;
  soaking = false;
  const soakTicks = ticks - ticks0;
  // Let the last tick's notifications arrive (publishing interval 1 s).
  await new Promise((r) => setTimeout(r, 1500));
  child.send({ type: 'count', stamps: soakStamps });
  const counted = await fromChild('count');
  const rssEndMb = Math.round(process.memoryUsage().rss / 1e6);
  const heapEndMb = heapMb();
  clearTimeout(timer);
  child.send({ type: 'stop' });
  await new Promise((r) => child.once('exit', r));
  const s0 = performance.now();
  await opcua.stop();
  const stopS = (performance.now() - s0) / 1000;
  rmSync(pki, { recursive: true, force: true });

  const expected = soakTicks * table.length;
  report({
    scenario: `opcua:${scenario}`,
    records: counted.notifications,
    seconds: wallS,
    recordsPerSec: Math.round(counted.notifications / wallS),
    peakRssMb: peakRssMb(),
    load1m,
    variables: table.length,
    monitoredItems: ready.monitored,
    soakS: SOAK_S,
    ticks: soakTicks,
    notificationsExpected: expected,
    notificationsDelivered: counted.notifications,
    completeTicks: counted.complete,
    deliveredPct: Math.round((counted.notifications / expected) * 10000) / 100,
    serverCpuPct: Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 1000) / 10,
    publishMsPerTick: Math.round(((publishMs - publish0) / soakTicks) * 10) / 10,
    rssStartMb,
    rssEndMb,
    heapStartMb,
    heapEndMb,
    startS: Math.round(startS * 100) / 100,
    browseS: ready.browseS,
    browsedVariables: ready.browsed,
    subscribeS: ready.subscribeS,
    stopS: Math.round(stopS * 100) / 100,
  });
}

/** Heap in use, in MB (after a full GC when run with --expose-gc: then it is what is retained). */
function heapMb() {
  globalThis.gc?.();
  return Math.round(process.memoryUsage().heapUsed / 1e6);
}

async function freePort() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function client(url, sensors) {
  const {
    AttributeIds,
    BrowseDirection,
    ClientMonitoredItemGroup,
    ClientSubscription,
    DataChangeFilter,
    DataChangeTrigger,
    DeadbandType,
    NodeClass,
    OPCUAClient,
    TimestampsToReturn,
  } = await import('node-opcua-client');
  const { OPCUACertificateManager } = await import('node-opcua-certificate-manager');
  const pki = mkdtempSync(join(tmpdir(), 'iotsim-bench-opcua-client-'));
  const certificates = new OPCUACertificateManager({
    rootFolder: pki,
    automaticallyAcceptUnknownCertificate: true,
  });
  const c = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    clientCertificateManager: certificates,
    requestedSessionTimeout: 120_000,
  });
  await c.connect(url);
  const session = await c.createSession();
  const nsArray = (await session.read({ nodeId: 'ns=0;i=2255', attributeId: AttributeIds.Value }))
    .value.value;
  const ns = nsArray.indexOf('urn:iotsim');

  // Full browse of Objects/IoTSim, level by level, following continuation points.
  const b0 = performance.now();
  const variables = [];
  let level = [`ns=${ns};s=IoTSim`];
  for (let depth = 0; depth < 3 && level.length; depth++) {
    const next = [];
    for (let i = 0; i < level.length; i += 500) {
      const results = await session.browse(
        level.slice(i, i + 500).map((nodeId) => ({
          nodeId,
          browseDirection: BrowseDirection.Forward,
          referenceTypeId: 'HierarchicalReferences',
          includeSubtypes: true,
          resultMask: 63,
        })),
      );
      for (let r of results) {
        const refs = [...(r.references ?? [])];
        while (r.continuationPoint && r.continuationPoint.length) {
          [r] = await session.browseNext([r.continuationPoint], false);
          refs.push(...(r.references ?? []));
        }
        for (const ref of refs) {
          if (ref.nodeClass === NodeClass.Object) next.push(ref.nodeId.toString());
          else if (ref.nodeClass === NodeClass.Variable && depth === 2)
            variables.push(ref.nodeId.toString());
        }
      }
    }
    level = next;
  }
  const browseS = Math.round((performance.now() - b0) / 10) / 100;

  const s0 = performance.now();
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: 1000,
    requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 20,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
  });
  const perStamp = new Map();
  const groups = [];
  for (let i = 0; i < variables.length; i += 5000) {
    const group = ClientMonitoredItemGroup.create(
      subscription,
      variables.slice(i, i + 5000).map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
      {
        samplingInterval: 0,
        discardOldest: true,
        queueSize: 2,
        // Every sample, also when a value repeats (a binary sensor): the timestamp changes.
        filter: new DataChangeFilter({
          trigger: DataChangeTrigger.StatusValueTimestamp,
          deadbandType: DeadbandType.None,
        }),
      },
      TimestampsToReturn.Source,
    );
    group.on('changed', (_item, dv) => {
      const t = dv.sourceTimestamp?.getTime() ?? 0;
      perStamp.set(t, (perStamp.get(t) ?? 0) + 1);
    });
    await new Promise((resolve, reject) => {
      group.once('initialized', resolve);
      group.once('err', reject);
    });
    groups.push(group);
  }
  const subscribeS = Math.round((performance.now() - s0) / 10) / 100;
  process.send({
    type: 'ready',
    browsed: variables.length,
    monitored: variables.length,
    browseS,
    subscribeS,
    sensors,
  });
  process.on('message', async (m) => {
    if (m.type === 'count') {
      const counts = m.stamps.map((t) => perStamp.get(t) ?? 0);
      process.send({
        type: 'count',
        notifications: counts.reduce((a, b) => a + b, 0),
        complete: counts.filter((n) => n === sensors).length,
      });
    } else if (m.type === 'stop') {
      await subscription.terminate().catch(() => {});
      await session.close().catch(() => {});
      await c.disconnect().catch(() => {});
      await certificates.dispose().catch(() => {});
      rmSync(pki, { recursive: true, force: true });
      process.exit(0);
    }
  });
}

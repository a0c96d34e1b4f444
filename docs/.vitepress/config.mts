import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type DefaultTheme } from 'vitepress';

const REPO = 'https://github.com/iotsim/iotsim';

/** The API sidebar typedoc-vitepress-theme writes beside the generated pages. */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const file = fileURLToPath(new URL('../api/typedoc-sidebar.json', import.meta.url));
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as DefaultTheme.SidebarItem[];
}

const guide: DefaultTheme.SidebarItem[] = [
  {
    text: 'Guide',
    items: [
      { text: 'Getting started', link: '/guide/getting-started' },
      { text: 'TypeScript API', link: '/guide/typescript' },
      { text: 'YAML mode', link: '/guide/yaml' },
      { text: 'YAML reference', link: '/reference/yaml' },
      { text: 'CLI reference', link: '/guide/cli' },
      { text: 'Sinks at a glance', link: '/guide/sinks' },
      { text: 'Throughput control', link: '/guide/throughput' },
      { text: 'Performance', link: '/guide/performance' },
      { text: 'Reliability', link: '/guide/reliability' },
      { text: 'Records and sensors', link: '/guide/records' },
      { text: 'Errors and exit codes', link: '/guide/errors' },
      { text: 'Scale: workers and shards', link: '/guide/scale' },
      { text: 'Containers and Kubernetes', link: '/guide/containers' },
    ],
  },
  {
    text: 'Sinks',
    items: [
      { text: 'console and callback (core)', link: '/sinks/built-in' },
      { text: 'file (CSV, JSON Lines, Parquet)', link: '/sinks/sink-file' },
      { text: 'kafka', link: '/sinks/sink-kafka' },
      { text: 'database (PostgreSQL, SQLite)', link: '/sinks/sink-database' },
      { text: 'webhook', link: '/sinks/sink-webhook' },
      { text: 'delta', link: '/sinks/sink-delta' },
      { text: 'mqtt and sparkplug', link: '/sinks/sink-mqtt' },
      { text: 'azure_iot', link: '/sinks/sink-azure-iot' },
      { text: 'aws_iot', link: '/sinks/sink-aws-iot' },
      { text: 'zerobus', link: '/sinks/sink-zerobus' },
    ],
  },
  {
    text: 'Servers',
    items: [
      { text: 'Overview and http (core)', link: '/servers/' },
      { text: 'opcua', link: '/servers/server-opcua' },
      { text: 'modbus', link: '/servers/server-modbus' },
      {
        text: 'mqtt_broker',
        link: '/sinks/sink-mqtt#mqttbroker-servers-type-mqtt-broker-server-mqtt-broker',
      },
    ],
  },
  {
    text: 'Recipes',
    items: [
      { text: 'Load-test Kafka', link: '/recipes/load-test-kafka' },
      { text: 'Backfill a lakehouse', link: '/recipes/backfill-lakehouse' },
      { text: 'Serve OPC UA to a SCADA', link: '/recipes/opcua-scada' },
      { text: 'Write a custom sink', link: '/recipes/custom-sink' },
    ],
  },
  {
    text: 'Internals',
    items: [{ text: '@iotsim/parquet', link: '/internals/parquet' }],
  },
];

export default defineConfig({
  title: 'iotsim',
  description:
    'Realistic industrial IoT sensor data, delivered to real destinations and served over industrial protocols.',
  cleanUrls: true,
  lastUpdated: false,
  // A link to a page that does not exist fails the build (pnpm docs:build, CI).
  ignoreDeadLinks: false,
  srcExclude: ['scripts/**', 'chapters/**', 'README.md'],
  // The local search index makes one large chunk; that is expected.
  vite: { build: { chunkSizeWarningLimit: 4000 } },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started' },
      { text: 'YAML reference', link: '/reference/yaml' },
      { text: 'Recipes', link: '/recipes/load-test-kafka' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: {
      '/api/': [{ text: 'API reference', link: '/api/', items: apiSidebar() }],
      '/': guide,
    },
    search: { provider: 'local' },
    outline: [2, 3],
    socialLinks: [{ icon: 'github', link: REPO }],
  },
});

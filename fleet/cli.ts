/**
 * `sitekd fleet` — the main job (`npm start`): the whole loop on one machine. An embedded broker inside the hub, the
 * hub (teacher, sample store, redistillation), N simulated sites streaming sensor data, and one agent per site, each
 * its own `sitekd` process. The terminal shows per site the model version, windows/s and the accuracy of every model
 * version the site has run (the simulator knows the labels), so each redistillation's effect is visible.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { intArg, numberArg, parseCommandArgs, type OptionTable } from '../shared/cli/args';
import { resolveDataDir, writeDataset } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticClassNames } from '../shared/data/synthetic';
import { MqttTransport } from '../shared/transport/mqtt-transport';
import { freePort, startChild, stopChild, type Child } from './processes';
import { FleetView } from './view';
import type { Command, CommandIo } from '../shared/cli/common';

const table = {
  data: { type: 'string', description: 'HAR dataset directory; default ../shared/data/HAR when present, else synthetic sites', placeholder: 'dir' },
  sites: { type: 'string', description: 'simulated sites, one agent each', default: '3', placeholder: 'n' },
  source: { type: 'string', description: 'labelled source subjects of the teacher, comma-separated (HAR)', default: '2,7,12,9,6', placeholder: 'ids' },
  speed: { type: 'string', description: 'simulated seconds per wall second', default: '4', placeholder: 'x' },
  'min-new-windows': { type: 'string', description: 'returned windows per site that trigger a redistillation', default: '250', placeholder: 'n' },
  epochs: { type: 'string', description: 'training epochs of teacher and students', default: '10', placeholder: 'n' },
  duration: { type: 'string', description: 'stop after this many seconds (default: until Ctrl-C)', placeholder: 's' },
  'state-dir': { type: 'string', description: 'where hub and agents keep their state (default: a new temp dir)', placeholder: 'dir' },
} as const satisfies OptionTable;

const schema = z.object({
  data: z.string().optional(),
  sites: intArg({ min: 1, max: 20 }).default(3),
  source: z.string().default('2,7,12,9,6'),
  speed: numberArg({ min: 0.1, max: 100 }).default(4),
  'min-new-windows': intArg({ min: 1 }).default(250),
  epochs: intArg({ min: 1, max: 1000 }).default(10),
  duration: numberArg({ min: 1 }).optional(),
  'state-dir': z.string().optional(),
});

async function waitFor(path: string, timeoutMs: number, alive: () => boolean): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (existsSync(path)) return true;
    if (!alive()) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function findHar(arg: string | undefined): string | undefined {
  try {
    const dir = resolveDataDir(arg);
    return existsSync(join(dir, 'manifest.json')) ? dir : undefined;
  } catch (err) {
    if (arg !== undefined) throw err;
    return undefined;
  }
}

export const fleetCommand: Command = {
  summary: 'the whole loop on one machine: broker + hub + simulated sites + one agent per site',
  usage: { table, schema },
  async run(argv, io) {
    const a = parseCommandArgs('fleet', argv, table, schema);
    const state = a['state-dir'] ?? mkdtempSync(join(tmpdir(), 'sitekd-fleet-'));
    const logs = join(state, 'logs');
    mkdirSync(logs, { recursive: true });
    let dataDir = findHar(a.data);
    let source = a.source;
    const simData: string[] = [];
    if (dataDir === undefined) {
      // Synthetic: site-0 is the labelled source the hub learns from; the simulator streams sites 1..N.
      dataDir = join(state, 'synthetic-data');
      const spec = defaultSyntheticSpec.harLike;
      writeDataset(dataDir, { classNames: syntheticClassNames(spec.numClasses), domains: generateSites({ ...spec, sites: a.sites + 1 }) });
      source = 'site-0';
      simData.push('--synthetic');
    } else {
      simData.push('--data', dataDir);
    }
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const siteIds = Array.from({ length: a.sites }, (_, i) => `site-${i + 1}`);
    io.stdout.write(`sitekd fleet: ${siteIds.length} sites, data ${dataDir}, broker ${url}\nstate and logs in ${state}\n`);
    const children: Child[] = [];
    const stopAll = async (): Promise<void> => {
      for (const c of [...children].reverse()) await stopChild(c);
    };
    const hub = startChild('hub', [
      'hub', '--data', dataDir, '--source', source, '--state-dir', join(state, 'hub'), '--mqtt-port', String(port),
      '--min-new-windows', String(a['min-new-windows']), '--epochs', String(a.epochs), '--teacher-epochs', String(a.epochs),
      '--sites', siteIds.join(','), '--cooldown-minutes', '1', '--schedule', '*/5 * * * *',
    ], logs);
    children.push(hub);
    io.stdout.write('starting the hub (trains the teacher and a generic student at first start)…\n');
    const keyFile = join(state, 'hub', 'keys', 'hub-ed25519.pub.pem');
    if (!(await waitFor(keyFile, 300_000, () => hub.proc.exitCode === null))) {
      await stopAll();
      io.stderr.write(`the hub did not come up; see ${join(logs, 'hub.log')}\n`);
      return 1;
    }
    const view = new FleetView('sim');
    const watcher = await MqttTransport.connect({ url, clientId: `sitekd-fleet-${process.pid}`, protocol: 4 }, 60_000);
    await watcher.subscribe('sim/+/score', (t, p) => view.handle(t, p), 0);
    await watcher.subscribe('sitekd/v1/+/+/telemetry', (t, p) => view.handle(t, p), 0);
    await watcher.subscribe('sitekd/v1/hub/jobs', (t, p) => view.handle(t, p), 1);
    siteIds.forEach((site, i) => {
      children.push(startChild(`agent-${site}`, [
        'agent', '--site', site, '--id', `gw-${i + 1}`, '--broker', url, '--sensor-topic', `sim/${site}/imu`,
        '--hub-key', keyFile, '--data-dir', join(state, `agent-${site}`),
        // A demo returns more of its windows, sooner, than a bandwidth-frugal gateway would (default 300 kB/min, 30 s).
        '--upload-budget', '1500000', '--upload-interval', '10000',
      ], logs));
    });
    children.push(startChild('sim', ['sim', '--sites', String(a.sites), '--broker', url, '--speed', String(a.speed), '--print-interval', '0', ...simData], logs));
    return await new Promise<number>((resolve) => {
      let drawn = 0;
      const draw = (): void => {
        const lines = view.render(io.stdout.isTTY ? ((io.stdout as { columns?: number }).columns ?? 120) : 200);
        if (io.stdout.isTTY && drawn > 0) io.stdout.write(`\x1b[${drawn}A\x1b[J`);
        io.stdout.write(`${lines.join('\n')}\n${io.stdout.isTTY ? '' : '\n'}`);
        drawn = lines.length;
      };
      const timer = setInterval(draw, io.stdout.isTTY ? 1000 : 10_000);
      const finish = async (code: number): Promise<void> => {
        clearInterval(timer);
        draw();
        await watcher.close(true);
        await stopAll();
        if (a['state-dir'] === undefined) rmSync(state, { recursive: true, force: true });
        resolve(code);
      };
      const onSignal = (): void => void finish(0);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      if (a.duration !== undefined) setTimeout(() => void finish(0), a.duration * 1000);
      for (const c of children) {
        void c.exited.then((code) => {
          if (code !== 0 && code !== null) io.stderr.write(`${c.name} exited with ${code}; see ${join(logs, `${c.name}.log`)}\n`);
        });
      }
    });
  },
};

export type { CommandIo };

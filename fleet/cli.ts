/**
 * `sitekd fleet` — the main job (`npm start`): the whole loop on one machine. An embedded broker inside the hub (with
 * credentials for every process, made by `sitekd credentials add` before the hub starts), the
 * hub (teacher, sample store, redistillation), N simulated sites streaming sensor data, and one agent per site, each
 * its own `sitekd` process. The terminal shows per site the model version, windows/s and the accuracy of every model
 * version the site has run (the simulator knows the labels), so each redistillation's effect is visible.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hubProgress } from './hub-progress';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand, type CommandIo } from '../shared/cli/command';
import { logLevelFlag } from '../shared/cli/option-groups';
import type { Parsed } from '../shared/cli/options';
import { resolveDataDir, writeDataset } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticChannelNames, syntheticClassNames } from '../shared/data/synthetic';
import { MqttTransport } from '../shared/transport/mqtt-transport';
import { freePort, runCli, startChild, stopChild, type Child } from './processes';
import { FleetView } from './view';
import { fleetSpec } from './spec';

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

type FleetArgs = Parsed<typeof fleetSpec.options>;

/** An identity on the hub's broker, made with `sitekd credentials add` exactly as an operator would. */
interface Login {
  readonly user: string;
  readonly password: string;
}

/**
 * Credentials for every process of the fleet, in the hub's state dir before the hub starts (it adds its own identity):
 * an agent per site (reads its simulated sensor), the simulator as a sensor (writes `sim/#`, reads predictions to
 * score them) and the fleet's own view as an operator (reads everything, and the simulator's scores).
 */
async function makeCredentials(hubState: string, siteIds: readonly string[]): Promise<{ agents: Login[]; sim: Login; view: Login }> {
  const add = async (user: string, args: string[]): Promise<Login> => {
    const out = await runCli(['credentials', 'add', '--state-dir', hubState, '--user', user, '--replace', ...args]);
    return { user, password: out.trimEnd().split('\n').pop() as string };
  };
  const agents: Login[] = [];
  for (const [i, site] of siteIds.entries()) agents.push(await add(`gw-${i + 1}`, ['--role', 'agent', '--site', site, '--topic', `sim/${site}/imu`]));
  const sim = await add('sitekd-sim', ['--role', 'sensor', '--topic', 'sim/#', '--read', 'sitekd/v1/+/+/predictions']);
  const view = await add('sitekd-fleet', ['--role', 'operator', '--read', 'sim/#']);
  return { agents, sim, view };
}

const withPassword = (l: Login): NodeJS.ProcessEnv => ({ ...process.env, SITEKD_MQTT_PASSWORD: l.password });

interface FleetData {
  readonly dataDir: string;
  readonly source: string;
  /** The simulator's data flags. */
  readonly simData: readonly string[];
}

/** The HAR data when there is some; otherwise synthetic sites written into the state dir (site-0 is the source). */
function prepareData(a: FleetArgs, state: string): FleetData {
  const har = findHar(a.data);
  if (har !== undefined) return { dataDir: har, source: a.source, simData: ['--data', har] };
  const dataDir = join(state, 'synthetic-data');
  const spec = defaultSyntheticSpec.harLike;
  writeDataset(dataDir, { classNames: syntheticClassNames(spec.numClasses), channelNames: syntheticChannelNames(spec.channels), domains: generateSites({ ...spec, sites: a.sites + 1 }) });
  return { dataDir, source: 'site-0', simData: ['--synthetic'] };
}

export const fleetCommand = defineCommand(fleetSpec, async (a, { io, log }) => {
  const state = a['state-dir'] ?? mkdtempSync(join(tmpdir(), 'sitekd-fleet-'));
  const logs = join(state, 'logs');
  mkdirSync(logs, { recursive: true });
  const { dataDir, source, simData } = prepareData(a, state);
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  const httpPort = a['http-port'] ?? (await freePort());
  const siteIds = Array.from({ length: a.sites }, (_, i) => `site-${i + 1}`);
  io.stdout.write(`sitekd fleet: ${siteIds.length} sites, data ${dataDir}, broker ${url}\nstate and logs in ${state}\n`);
  // The children log to their files at the level asked of the fleet.
  const level = logLevelFlag(a);
  const logFlags = level === undefined ? [] : ['--log-level', level];
  const children: Child[] = [];
  const start = (name: string, args: string[], env?: NodeJS.ProcessEnv): Child => {
    const c = startChild(name, [...args, ...logFlags], logs, env);
    log.debug('started', { child: name, pid: c.proc.pid });
    children.push(c);
    return c;
  };
  const stopAll = async (): Promise<void> => {
    for (const c of [...children].reverse()) await stopChild(c);
  };
  const logins = await makeCredentials(join(state, 'hub'), siteIds);
  const hub = start('hub', [
    'hub', '--data', dataDir, '--source', source, '--state-dir', join(state, 'hub'), '--mqtt-port', String(port),
    '--min-new-windows', String(a['min-new-windows']), '--epochs', String(a.epochs), '--teacher-epochs', String(a.epochs),
    '--sites', siteIds.join(','), '--cooldown-minutes', '1', '--schedule', '*/5 * * * *', '--http-port', String(httpPort),
  ]);
  // The dashboard's redistill button wants an operator login: the fleet's own view is one. Its password goes to a
  // file only its owner reads, not to the terminal's scrollback.
  const loginFile = join(state, 'dashboard-login.txt');
  writeFileSync(loginFile, `user ${logins.view.user}\npassword ${logins.view.password}\n`, { mode: 0o600 });
  io.stdout.write(`dashboard http://127.0.0.1:${httpPort}/ (once the hub is up; operator login in ${loginFile})\n`);
  io.stdout.write('starting the hub (trains the teacher and a generic student at first start, then the turn voters)…\n');
  const keyFile = join(state, 'hub', 'keys', 'hub-ed25519.pub.pem');
  if (!(await waitFor(keyFile, 300_000, () => hub.proc.exitCode === null))) {
    await stopAll();
    io.stderr.write(`the hub did not come up; see ${join(logs, 'hub.log')}\n`);
    return 1;
  }
  const view = new FleetView('sim');
  const { view: v } = logins;
  const watcher = await MqttTransport.connect({ url, clientId: v.user, username: v.user, password: v.password, protocol: 4 }, 60_000);
  await watcher.subscribe('sim/+/score', (t, p) => view.handle(t, p), 0);
  await watcher.subscribe('sitekd/v1/+/+/telemetry', (t, p) => view.handle(t, p), 0);
  await watcher.subscribe('sitekd/v1/hub/jobs', (t, p) => view.handle(t, p), 1);
  siteIds.forEach((site, i) => {
    start(`agent-${site}`, [
      'agent', '--site', site, '--id', `gw-${i + 1}`, '--username', `gw-${i + 1}`, '--broker', url, '--sensor-topic', `sim/${site}/imu`,
      '--hub-key', keyFile, '--data-dir', join(state, `agent-${site}`),
      // A demo returns more of its windows, sooner, than a bandwidth-frugal gateway would (default 300 kB/min, 30 s).
      '--upload-budget', '1500000', '--upload-interval', '10000',
      // The simulator runs `speed` times faster than the wall clock, so its timestamps lead the agents' clocks more and
      // more: a year of skew keeps a fast demo from being dropped as readings from the future.
      ...(a.speed > 1 ? ['--max-clock-skew', String(366 * 86_400_000)] : []),
    ], withPassword(logins.agents[i] as Login));
  });
  start('sim', ['sim', '--sites', String(a.sites), '--broker', url, '--username', logins.sim.user, '--speed', String(a.speed), '--print-interval', '0', ...simData], withPassword(logins.sim));
  let stopping = false;
  for (const c of children) {
    void c.exited.then((code) => {
      // Ctrl-C reaches the children too (one process group): 130 then is the stop, not a failure.
      if (stopping || code === 0 || code === null || code === 130) return;
      io.stderr.write(`${c.name} exited with ${code}; see ${join(logs, `${c.name}.log`)}${a['state-dir'] === undefined ? ' (removed when sitekd fleet stops; --state-dir DIR keeps it)' : ''}\n`);
    });
  }
  const progress = setInterval(() => {
    view.note = hubProgress(join(logs, 'hub.log'));
  }, 1000);
  const code = await showUntilStopped(io, view, a.duration);
  clearInterval(progress);
  stopping = true;
  io.stderr.write('stopping the fleet…\n');
  await watcher.close(true);
  await stopAll();
  if (a['state-dir'] === undefined) {
    rmSync(state, { recursive: true, force: true });
    io.stderr.write('stopped; state and logs removed (--state-dir DIR keeps them)\n');
  } else io.stderr.write(`stopped; state and logs kept in ${state}\n`);
  return code;
});

/** Redraws the per-site table (in place on a terminal) until Ctrl-C, SIGTERM or `durationS`. */
function showUntilStopped(io: CommandIo, view: FleetView, durationS: number | undefined): Promise<number> {
  return new Promise<number>((resolve) => {
    let drawn = 0;
    const draw = (): void => {
      const lines = view.render(io.stdout.isTTY ? ((io.stdout as { columns?: number }).columns ?? 120) : 200);
      if (io.stdout.isTTY && drawn > 0) io.stdout.write(`\x1b[${drawn}A\x1b[J`);
      io.stdout.write(`${lines.join('\n')}\n${io.stdout.isTTY ? '' : '\n'}`);
      drawn = lines.length;
    };
    const timer = setInterval(draw, io.stdout.isTTY ? 1000 : 10_000);
    let durationTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearInterval(timer);
      clearTimeout(durationTimer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      draw();
      resolve(0);
    };
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (durationS !== undefined) durationTimer = setTimeout(finish, durationS * 1000);
  });
}

export type { CommandIo };

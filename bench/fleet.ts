/**
 * `npm run bench:fleet`: the runtime figures issue 3 asks for, measured on real processes and a real broker:
 * agent CPU and RSS for one 9-channel 50 Hz sensor (real time), reading-to-prediction latency p50/p99, hub memory
 * with 3 sites, and the time to roll a new student out to every agent of a site (3 agents on site-1).
 * Writes bench/results/fleet.md. Needs no data (synthetic sites) but uses ../shared/data/HAR when present.
 */
import { readFileSync, mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveDataDir, writeDataset } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticClassNames } from '../shared/data/synthetic';
import { decode, encode } from '../shared/protocol/codec';
import { AgentStatusSchema, JobEventSchema, PredictionSchema } from '../shared/protocol/messages';
import { MqttTransport } from '../shared/transport/mqtt-transport';
import { benchArgs, runBench, writeReport } from './timing';
import { freePort, startChild, stopChild, type Child } from '../fleet/processes';

const MEASURE_S = Number(process.env.SITEKD_BENCH_SECONDS ?? 120);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ProcStats {
  readonly cpuS: number;
  readonly rssMb: number;
}

/** utime + stime in seconds, and VmRSS in MB, from /proc. */
function procStats(pid: number): ProcStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS: ticks / 100, rssMb: rss ? Number(rss[1]) / 1024 : NaN };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface BenchData {
  readonly data: string;
  readonly source: string;
  /** The sim's data flags: `--data DIR` for HAR, `--synthetic` otherwise. */
  readonly simData: readonly string[];
}

/** UCI-HAR when it is there; otherwise a synthetic data set written into the state directory. */
function prepareData(state: string): BenchData {
  try {
    const data = resolveDataDir();
    if (!existsSync(join(data, 'manifest.json'))) throw new Error('no HAR');
    return { data, source: '2,7,12,9,6', simData: ['--data', data] };
  } catch {
    const data = join(state, 'data');
    writeDataset(data, { classNames: syntheticClassNames(6), domains: generateSites({ ...defaultSyntheticSpec.harLike, sites: 4 }) });
    return { data, source: 'site-0', simData: ['--synthetic'] };
  }
}

/** What a subscriber sees of site-1: reading → prediction latencies while `measuring`, agent versions, the last round. */
interface FleetWatch {
  readonly transport: MqttTransport;
  readonly latencies: number[];
  /** Status topic → model version of each online agent. */
  readonly versions: Map<string, string | null>;
  measuring: boolean;
  /** performance.now() of the hub's "done" event for site-1, and the version it published (0 and '' before). */
  publishedAt: number;
  newVersion: string;
  /** performance.now() of site-1's job reaching a final state, and that state with its message (0 / '' before). */
  finishedAt: number;
  outcome: string;
}

async function watchFleet(url: string): Promise<FleetWatch> {
  const transport = await MqttTransport.connect({ url, clientId: 'bench-fleet', protocol: 4 }, 30_000);
  const w: FleetWatch = { transport, latencies: [], versions: new Map(), measuring: false, publishedAt: 0, newVersion: '', finishedAt: 0, outcome: '' };
  const readingAt = new Map<number, number>(); // ts → wall ms it reached us (site-1 stream)
  await transport.subscribe('sim/site-1/imu', (_t, p) => {
    const ts = (JSON.parse(p.toString('utf8')) as { ts: number }).ts;
    readingAt.set(ts, performance.now());
  }, 0);
  await transport.subscribe('sitekd/v1/site-1/gw-1/predictions', (_t, p) => {
    const r = decode(PredictionSchema, p);
    if (!r.ok || !w.measuring) return;
    // The reading that completes a window is the last one inside it.
    const last = readingAt.get(r.value.windowStart + 127 * 20);
    if (last !== undefined) w.latencies.push(performance.now() - last);
  }, 0);
  await transport.subscribe('sitekd/v1/site-1/+/status', (t, p) => {
    const r = decode(AgentStatusSchema, p);
    if (r.ok && r.value.state === 'online') w.versions.set(t, r.value.modelVersion);
  }, 1);
  await transport.subscribe('sitekd/v1/hub/jobs', (_t, p) => {
    const r = decode(JobEventSchema, p);
    if (!r.ok || r.value.site !== 'site-1') return;
    if (['done', 'failed', 'skipped', 'rejected'].includes(r.value.state)) {
      w.finishedAt = performance.now();
      w.outcome = `${r.value.state}${r.value.message !== undefined ? `: ${r.value.message.slice(0, 160)}` : ''}`;
    }
    if (r.value.state === 'done' && r.value.result?.version) {
      w.publishedAt = performance.now();
      w.newVersion = r.value.result.version;
    }
  }, 1);
  return w;
}

/** Three agents on site-1 (for the rollout), one each on site-2 and site-3. */
function startAgents(url: string, key: string, state: string, logs: string): Child[] {
  const agentArgs = (site: string, id: string): string[] => ['agent', '--site', site, '--id', id, '--broker', url, '--sensor-topic', `sim/${site}/imu`,
    '--hub-key', key, '--data-dir', join(state, `agent-${site}-${id}`), '--upload-budget', '1500000', '--upload-interval', '10000'];
  return [startChild('agent-1', agentArgs('site-1', 'gw-1'), logs), startChild('agent-1b', agentArgs('site-1', 'gw-1b'), logs),
    startChild('agent-1c', agentArgs('site-1', 'gw-1c'), logs), startChild('agent-2', agentArgs('site-2', 'gw-2'), logs), startChild('agent-3', agentArgs('site-3', 'gw-3'), logs)];
}

interface Figures {
  readonly synthetic: boolean;
  /** Agent gw-1 and the hub, before and after the measurement; the hub again after the redistillation. */
  readonly a0: ProcStats;
  readonly a1: ProcStats;
  readonly h0: ProcStats;
  readonly h1: ProcStats;
  readonly h2: ProcStats;
  readonly latencies: number[];
  readonly jobS: number;
  readonly rolloutMs: number | null;
  readonly outcome: string;
}

/** bench/results/fleet.md. */
function reportLines(f: Figures): string[] {
  const { a0, a1, h0, h1, h2, latencies } = f;
  return ['# Fleet runtime figures', '', `Command: \`npm run bench:fleet\` (SITEKD_BENCH_SECONDS=${MEASURE_S}) — run ${new Date().toISOString()}, Node ${process.version}, 2 cores, embedded aedes broker, all processes on this machine.`, '',
    `Sites stream ${f.synthetic ? 'synthetic shifted sites' : 'real UCI-HAR subjects 11, 13, 16 (continuous recordings)'} at real time: one 9-channel 50 Hz sensor per agent, JSON readings.`, '',
    '| figure | value | note |', '|---|---:|---|',
    `| agent CPU, one 9-channel 50 Hz sensor | ${(100 * (a1.cpuS - a0.cpuS) / MEASURE_S).toFixed(2)} % of one core | over ${MEASURE_S} s after warm-up; parse, window (stride 64), predict, publish, sample, upload |`,
    `| agent RSS | ${a1.rssMb.toFixed(0)} MB | tfjs wasm backend loaded, one student |`,
    `| reading → prediction latency p50 / p99 | ${pct(latencies, 50).toFixed(1)} / ${pct(latencies, 99).toFixed(1)} ms | from the reading that completes a window reaching a subscriber to its prediction reaching the same subscriber (${latencies.length} windows); includes the agent's 250 ms reorder window |`,
    `| hub RSS with 3 sites, 5 agents, idle | ${h1.rssMb.toFixed(0)} MB | after start (teacher + generic student trained), samples flowing |`,
    `| hub CPU while idle | ${(100 * (h1.cpuS - h0.cpuS) / MEASURE_S).toFixed(2)} % of one core | embedded broker + sample store for 5 agents |`,
    `| hub RSS after one redistillation | ${h2.rssMb.toFixed(0)} MB | the training worker keeps its tfjs heap |`,
    `| on-demand redistillation of site-1 | ${f.jobS.toFixed(1)} s | command → round finished (site adaptation + gate, worker thread); outcome ${f.outcome.replaceAll('|', '/')} |`,
    `| rollout to every agent of the site (3) | ${f.rolloutMs === null ? '– (nothing published)' : `${f.rolloutMs.toFixed(0)} ms`} | new version published → all 3 agents report it in their retained status |`];
}

async function main(): Promise<void> {
  benchArgs({ options: {} }); // no options: --help, or a usage error for any
  const state = mkdtempSync(join(tmpdir(), 'sitekd-bench-fleet-'));
  const logs = join(state, 'logs');
  mkdirSync(logs, { recursive: true });
  const { data, source, simData } = prepareData(state);
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  const children: Child[] = [];
  let lines: string[] = [];
  try {
    const hub = startChild('hub', ['hub', '--data', data, '--source', source, '--state-dir', join(state, 'hub'), '--mqtt-port', String(port),
      // Anonymous: the bench measures the runtime, not the broker's logins (bench:scale does the same).
      '--sites', 'site-1,site-2,site-3', '--schedule', 'off', '--min-new-windows', '0', '--allow-anonymous'], logs);
    children.push(hub);
    const key = join(state, 'hub', 'keys', 'hub-ed25519.pub.pem');
    await waitFor(() => existsSync(key) || hub.proc.exitCode !== null, 300_000, 'the hub');
    const watch = await watchFleet(url);
    const agents = startAgents(url, key, state, logs);
    children.push(...agents);
    children.push(startChild('sim', ['sim', '--sites', '3', '--broker', url, '--speed', '1', '--print-interval', '0', ...simData], logs));
    await sleep(20_000); // warm-up: model applied, windows flowing
    const a0 = procStats(agents[0]?.proc.pid ?? 0);
    const h0 = procStats(hub.proc.pid ?? 0);
    watch.measuring = true;
    await sleep(MEASURE_S * 1000);
    watch.measuring = false;
    const a1 = procStats(agents[0]?.proc.pid ?? 0);
    const h1 = procStats(hub.proc.pid ?? 0);
    // Rollout: redistill site-1 on demand; time from the hub's "done" event to the last of its 3 agents running it.
    const reply = `sitekd/v1/hub/reply/bench-fleet`;
    await watch.transport.subscribe(reply, () => undefined, 1);
    const t0 = performance.now();
    await watch.transport.publish('sitekd/v1/hub/cmd', encode({ id: 'bench-1', cmd: 'redistill', site: 'site-1', replyTo: reply }), { qos: 1 });
    await waitFor(() => watch.finishedAt > 0, 600_000, 'the round');
    const jobS = (watch.finishedAt - t0) / 1000;
    // A round the gate rejects (or skips) publishes nothing: then there is no rollout to time.
    let rolloutMs: number | null = null;
    if (watch.publishedAt > 0) {
      await waitFor(() => [...watch.versions.values()].filter((v) => v === watch.newVersion).length >= 3, 60_000, 'all 3 agents on the new version');
      rolloutMs = performance.now() - watch.publishedAt;
    }
    const h2 = procStats(hub.proc.pid ?? 0);
    lines = reportLines({ synthetic: simData[0] === '--synthetic', a0, a1, h0, h1, h2, latencies: watch.latencies, jobS, rolloutMs, outcome: watch.outcome });
    await watch.transport.close(true);
  } finally {
    for (const c of [...children].reverse()) await stopChild(c);
  }
  const out = resolve(__dirname, '../../bench/results/fleet.md');
  writeReport(out, lines);
  rmSync(state, { recursive: true, force: true });
}

runBench(main);

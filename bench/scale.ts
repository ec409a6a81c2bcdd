/**
 * `npm run bench:scale -- --agents N [--seconds S] [--broker URL|mosquitto] [--rate R] [--windows W] [--json]`: N
 * lightweight protocol agents (bench/scale-agents.ts) against a real `sitekd hub` child process, on its embedded
 * broker, on Mosquitto (`--broker mosquitto` starts `mosquitto -p PORT` here) or on a broker at URL. Reports batches
 * sent / acked / stored, lost (acked but not in the store) and duplicated (stored more than once, by batch id), ack
 * latency p50/p99 (first send → ack, resends included), the hub's CPU and RSS over the measurement. The last line
 * of `--json` is one object with `lost`, `duplicated`, `p99AckMs`, `batchesPerSec`. Appends its table to
 * bench/results/scale.md with the command. `--hub-cpu-prof DIR` profiles the hub (node --cpu-prof; summarise with
 * bench/scale-profile.ts). `--mosquitto-inflight N --mosquitto-queued N` set the started Mosquitto's per-client limits
 * (default 100 and 10000, as docs/scaling.md recommends for a hub of thousands of agents; Mosquitto's own: 20, 1000); `--ingest-max-pending N` the hub's `ingestMaxPending`. Besides the hub's CPU it reports
 * its main thread's time on a CPU and waiting for one (other processes on the machine), and the CPU of the load
 * generator (this process) and of the Mosquitto it started.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../fleet/processes';
import { LoadFleet } from './scale-agents';
import { auditStore, procStats, startHubChild, startMosquitto, stop, writeData, type MosquittoProc, type Proc } from './scale-hub';
import { benchArgs, benchUsage, loadNote, runBench } from './timing';

const { values: a } = benchArgs({
  options: {
    agents: { type: 'string', default: '50' }, seconds: { type: 'string', default: '60' }, broker: { type: 'string' },
    rate: { type: 'string', default: '1' }, windows: { type: 'string', default: '1' }, sites: { type: 'string' },
    'resend-ms': { type: 'string', default: '10000' }, 'fetch-model': { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
    'hub-cpu-prof': { type: 'string' }, note: { type: 'string', default: '' },
    'ingest-max-pending': { type: 'string' }, 'mosquitto-inflight': { type: 'string', default: '100' }, 'mosquitto-queued': { type: 'string', default: '10000' },
  },
});
const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) benchUsage(`--${name} must be a number ≥ ${min}, got ${String(v)}`);
  return n;
};
const agents = num('agents', a.agents, 1);
const seconds = num('seconds', a.seconds, 1);
const rate = num('rate', a.rate, 0.01);
const windows = num('windows', a.windows, 1);
// Four agents per site by default (gateways of one plant), at most the hub's default maxSites.
const sites = a.sites !== undefined ? num('sites', a.sites, 1) : Math.min(1000, Math.ceil(agents / 4));

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length === 0 ? NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sitekd-bench-scale-'));
  const procs: Proc[] = [];
  try {
    let broker = a.broker;
    let mosq: MosquittoProc | undefined;
    if (broker === 'mosquitto') {
      const port = await freePort();
      mosq = await startMosquitto(port, dir, { inflight: num('mosquitto-inflight', a['mosquitto-inflight'], 0), queued: num('mosquitto-queued', a['mosquitto-queued'], 0) });
      procs.push(mosq);
      broker = `mqtt://127.0.0.1:${port}`;
    }
    const prof = a['hub-cpu-prof'];
    if (prof !== undefined) mkdirSync(prof, { recursive: true });
    const stateDir = join(dir, 'hub');
    const maxPending = a['ingest-max-pending'];
    const config = maxPending !== undefined ? join(dir, 'hub-config.json') : undefined;
    if (config !== undefined) writeFileSync(config, JSON.stringify({ ingestMaxPending: num('ingest-max-pending', maxPending, 1) }));
    const hub = await startHubChild({
      data: writeData(join(dir, 'data')), stateDir, port: await freePort(), ...(config !== undefined ? { config } : {}), ...(broker !== undefined ? { broker } : {}),
      nodeArgs: prof !== undefined ? ['--cpu-prof', '--cpu-prof-dir', resolve(prof)] : [],
    });
    procs.push(hub);
    const fleet = new LoadFleet({ url: hub.url, agents, sites, rate, windows, resendMs: num('resend-ms', a['resend-ms'], 100), fetchModel: a['fetch-model'] });
    const tc = performance.now();
    await fleet.connect();
    const connectS = (performance.now() - tc) / 1000;
    await new Promise((r) => setTimeout(r, 3000)); // the sites' generic students are published on the agents' births
    const h0 = procStats(hub.proc.pid ?? 0);
    const m0 = mosq !== undefined ? procStats(mosq.proc.pid ?? 0) : undefined;
    const g0 = process.cpuUsage();
    const t0 = performance.now();
    fleet.start();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const sendS = (performance.now() - t0) / 1000;
    const h1 = procStats(hub.proc.pid ?? 0);
    const g1 = process.cpuUsage(g0);
    const brokerCpuS = mosq !== undefined && m0 !== undefined ? procStats(mosq.proc.pid ?? 0).cpuS - m0.cpuS : NaN;
    const loadCpuS = (g1.user + g1.system) / 1e6;
    const sentInWindow = fleet.stats.sent;
    const ackedInWindow = fleet.stats.acked;
    await fleet.drain(30_000);
    const unacked = fleet.unacked();
    await fleet.close();
    await stop(hub);
    const audit = await auditStore(stateDir);
    report({ s: fleet.stats, audit, h0, h1, sendS, connectS, unacked, sentInWindow, ackedInWindow, broker: a.broker ?? 'embedded', loadCpuS, brokerCpuS, brokerDrops: mosq?.dropNotices() ?? null });
  } finally {
    for (const p of procs.reverse()) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

type Figures = {
  s: LoadFleet['stats']; audit: Awaited<ReturnType<typeof auditStore>>; h0: ReturnType<typeof procStats>; h1: ReturnType<typeof procStats>;
  sendS: number; connectS: number; unacked: number; sentInWindow: number; ackedInWindow: number; broker: string;
  /** CPU seconds of the load generator (this process) and of the Mosquitto the bench started (NaN otherwise). */
  loadCpuS: number; brokerCpuS: number;
  /** Mosquitto's notices that it dropped messages for a client (null on another broker). */
  brokerDrops: number | null;
};

function report(f: Figures): void {
  const { s, audit } = f;
  const lost = [...s.held].filter((k) => !audit.copies.has(k)).length;
  const duplicated = [...audit.copies.values()].reduce((n, c) => n + c - 1, 0);
  const stored = [...s.all].filter((k) => audit.copies.has(k)).length;
  const json = {
    agents, sites, seconds, rate, windows, broker: f.broker, sent: s.sent, resent: s.resent, acked: s.acked, ackedDuplicate: s.ackedDuplicate,
    ackedError: s.ackedError, busy: s.busy, stored, unacked: f.unacked, lost, duplicated,
    p50AckMs: Math.round(pct(s.latencies, 50)), p99AckMs: Math.round(pct(s.latencies, 99)), maxAckMs: Math.round(pct(s.latencies, 100)),
    batchesPerSec: Math.round(f.ackedInWindow / f.sendS), offeredPerSec: Math.round(f.sentInWindow / f.sendS),
    hubCpuPct: Math.round((100 * (f.h1.cpuS - f.h0.cpuS)) / f.sendS),
    hubMainThreadCpuPct: Math.round((100 * (f.h1.mainCpuS - f.h0.mainCpuS)) / f.sendS), hubMainThreadWaitPct: Math.round((100 * (f.h1.mainWaitS - f.h0.mainWaitS)) / f.sendS), hubRssMb: Math.round(f.h1.rssMb),
    loadGenCpuPct: Math.round((100 * f.loadCpuS) / f.sendS), brokerCpuPct: Number.isNaN(f.brokerCpuS) ? null : Math.round((100 * f.brokerCpuS) / f.sendS), brokerDropNotices: f.brokerDrops, connectS: Number(f.connectS.toFixed(1)),
  };
  const cmd = `npm run bench:scale -- --agents ${agents} --seconds ${seconds} --rate ${rate}${a.broker !== undefined ? ` --broker ${a.broker}` : ''}${a.broker === 'mosquitto' && (a['mosquitto-inflight'] !== '100' || a['mosquitto-queued'] !== '10000') ? ` --mosquitto-inflight ${a['mosquitto-inflight']} --mosquitto-queued ${a['mosquitto-queued']}` : ''}${windows !== 1 ? ` --windows ${windows}` : ''}${a['ingest-max-pending'] !== undefined ? ` --ingest-max-pending ${a['ingest-max-pending']}` : ''} --json`;
  const out = resolve(__dirname, '../../bench/results/scale.md');
  if (!existsSync(out)) {
    mkdirSync(resolve(out, '..'), { recursive: true });
    appendFileSync(out, '# Scale: one hub, many agents (npm run bench:scale)\n\nEach row is one run; columns are the last JSON line of the bench.\n\n' +
      '| when | command | note | sent | acked | stored | busy acks | unacked at end | lost | duplicated | p50 / p99 / max ack ms | acked/s (offered/s) | hub CPU % | hub RSS MB |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n');
  }
  appendFileSync(out, `| ${new Date().toISOString().slice(0, 16)} (${loadNote()}) | \`${cmd}\` | ${[a.note, `hub main thread ${json.hubMainThreadCpuPct} % on CPU, ${json.hubMainThreadWaitPct} % waiting for one`, `load generator CPU ${json.loadGenCpuPct} %`, json.brokerCpuPct !== null ? `Mosquitto CPU ${json.brokerCpuPct} %, ${String(json.brokerDropNotices)} drop notices` : ''].filter((x) => x !== '').join('; ')} | ${json.sent} | ${json.acked} | ${stored} | ${json.busy} | ${json.unacked} | ${lost} | ${duplicated} | ${json.p50AckMs} / ${json.p99AckMs} / ${json.maxAckMs} | ${json.batchesPerSec} (${json.offeredPerSec}) | ${json.hubCpuPct} | ${json.hubRssMb} |\n`);
  if (!a.json) process.stdout.write(`${cmd}\n`);
  for (const [k, v] of Object.entries(json)) if (!a.json) process.stdout.write(`${k}: ${String(v)}\n`);
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

runBench(main);

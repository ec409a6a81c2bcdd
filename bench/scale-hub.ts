/**
 * The hub side of `npm run bench:scale` (bench/scale.ts): a real `sitekd hub` child process (so its main thread, CPU
 * and RSS are measured apart from the load generator), on its embedded broker or on a Mosquitto the bench starts,
 * and the audit of its sample store after it stopped: which batch ids are on disk, and how often.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeDataset } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticClassNames } from '../shared/data/synthetic';
import { decodeSegment } from '../hub/store/sample-segment';
import { PackBook, scanPacks } from '../hub/store/sample-packs';

const CLI = resolve(__dirname, '../bin/sitekd.js');

export interface ProcStats {
  readonly cpuS: number;
  readonly rssMb: number;
  /** The main thread alone: seconds on a CPU, and seconds runnable but waiting for one (other processes had it). */
  readonly mainCpuS: number;
  readonly mainWaitS: number;
}

/** utime + stime in seconds, and VmRSS in MB, from /proc; the main thread's run and run-queue times from schedstat. */
export function procStats(pid: number): ProcStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const sched = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
  return { cpuS: ticks / 100, rssMb: rss ? Number(rss[1]) / 1024 : NaN, mainCpuS: (sched[0] ?? NaN) / 1e9, mainWaitS: (sched[1] ?? NaN) / 1e9 };
}

export interface Proc {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  output: string;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const p: Proc = { proc, exited: new Promise((res) => proc.once('exit', (code) => res(code))), output: '' };
  // Only the tail is kept: a hub's log over minutes of load is large, and only its last lines explain a failure.
  const keep = (b: Buffer): void => void (p.output = (p.output + b.toString('utf8')).slice(-64 * 1024));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return p;
}

export async function stop(p: Proc, graceMs = 30_000): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill('SIGTERM');
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}

async function until(what: string, p: Proc, pred: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (p.proc.exitCode !== null) throw new Error(`${what}: the process exited (${p.proc.exitCode}):\n${p.output.slice(-4000)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${p.output.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface MosquittoLimits {
  /** `max_inflight_messages`: QoS 1 messages on their way to one client at once (Mosquitto's default 20). */
  readonly inflight: number;
  /** `max_queued_messages`: QoS 1 messages queued for one client beyond those (default 1000); more are dropped. */
  readonly queued: number;
}

export interface MosquittoProc extends Proc {
  /** Mosquitto's "Outgoing messages are being dropped for client …" notices: a client's queue overflowed. */
  readonly dropNotices: () => number;
}

/**
 * Mosquitto on 127.0.0.1:PORT, anonymous, with `limits` per client, up once it accepts connections. The config goes
 * in `dir`. Mosquitto's defaults (20 in flight, 1000 queued) are per client, and the hub is one client receiving
 * every agent's batches: at thousands of batches per second a stall of the hub's event loop overflows its queue, and
 * Mosquitto drops QoS 1 messages for it (the agents resend them after their ack timeout).
 */
export async function startMosquitto(port: number, dir: string, limits: MosquittoLimits): Promise<MosquittoProc> {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `max_inflight_messages ${limits.inflight}`, `max_queued_messages ${limits.queued}`, ''].join('\n'));
  const p = start('mosquitto', ['-c', conf]);
  let drops = 0;
  p.proc.stderr?.on('data', (b: Buffer) => void (drops += b.toString('utf8').split('being dropped').length - 1));
  p.proc.stdout?.on('data', (b: Buffer) => void (drops += b.toString('utf8').split('being dropped').length - 1));
  await new Promise((r) => setTimeout(r, 500));
  if (p.proc.exitCode !== null) throw new Error(`mosquitto exited: ${p.output}`);
  return Object.assign(p, { dropNotices: () => drops });
}

/** A tiny synthetic data set (HAR-shaped 9 × 128, 6 classes) so the hub's teacher trains in seconds. */
export function writeData(dir: string): string {
  const spec = { ...defaultSyntheticSpec.harLike, sites: 2, trainPerClass: 12, testPerClass: 4 };
  writeDataset(dir, { name: 'SYN', classNames: syntheticClassNames(spec.numClasses), domains: generateSites(spec) });
  return dir;
}

export interface HubChild extends Proc {
  readonly url: string;
}

/**
 * Starts `sitekd hub` (rounds off: no schedule, no trigger on new windows) and resolves once it runs. `nodeArgs`
 * go to node (e.g. `--cpu-prof`); `config` is a hub config file (hub/config.ts).
 */
export async function startHubChild(o: { data: string; stateDir: string; port: number; broker?: string; config?: string; nodeArgs: readonly string[] }): Promise<HubChild> {
  const args = [...o.nodeArgs, CLI, 'hub', '--data', o.data, '--source', 'site-0', '--state-dir', o.stateDir, '--schedule', 'off',
    '--min-new-windows', '0', '--epochs', '1', '--teacher-epochs', '1', '--log-json', ...(o.config !== undefined ? ['--config', o.config] : []),
    // The load agents log in anonymously: the bench measures ingest, not the embedded broker's password checks.
    ...(o.broker !== undefined ? ['--broker', o.broker] : ['--mqtt-port', String(o.port), '--allow-anonymous'])];
  const p = start(process.execPath, args);
  await until('the hub', p, () => p.output.includes('hub running'), 300_000);
  return { ...p, url: o.broker ?? `mqtt://127.0.0.1:${o.port}` };
}

export interface Audit {
  /** `site/batchId` → copies found in segment files. */
  readonly copies: Map<string, number>;
  readonly segments: number;
}

/** Reads every segment (files and packs) under the hub's sample store (after the hub stopped) and counts each batch id's copies. */
export async function auditStore(stateDir: string): Promise<Audit> {
  return await auditSamples(join(stateDir, 'samples'));
}

/** The same for one sample store's directory (several hubs keep one per site: `<state>/sites/<site>/samples`). */
export async function auditSamples(samplesDir: string): Promise<Audit> {
  const copies = new Map<string, number>();
  let segments = 0;
  const count = (bytes: Uint8Array): void => {
    const r = decodeSegment(bytes);
    if (!r.ok) return;
    segments++;
    const k = `${r.segment.header.site}/${r.segment.header.batchId}`;
    copies.set(k, (copies.get(k) ?? 0) + 1);
  };
  const sitesDir = join(samplesDir, 'sites');
  if (!existsSync(sitesDir)) return { copies, segments };
  for (const d of readdirSync(sitesDir)) {
    for (const f of readdirSync(join(sitesDir, d)).filter((n) => n.endsWith('.seg'))) count(readFileSync(join(sitesDir, d, f)));
  }
  // Packs (hub/store/sample-packs.ts): every segment not tombstoned, read without the store's checks.
  const { segments: packed } = await scanPacks(await PackBook.open(samplesDir));
  for (const x of packed) count(x.bytes);
  return { copies, segments };
}

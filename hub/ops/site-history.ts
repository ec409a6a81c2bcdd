/**
 * The hub-kept history behind the dashboard's plots (`GET /api/history?site=S`): per site a bounded time series, one
 * point per `bucketMs` (a minute by default), of what the agents' telemetry and the sample store say:
 *  - `windowsPerSec`: the site's classification rate, the sum over its agents of each agent's mean in the bucket;
 *  - `confidence`: mean top-class probability, weighted by each telemetry interval's windows (null: none reported);
 *  - `drift`: mean of the agents' drift scores (null: none measured yet);
 *  - `classCounts`: windows per predicted class, summed over agents (the page draws shares);
 *  - `uploads`: sample windows received and stored (the store's per-site sequence number advanced by this much);
 *  - `agentsOnline`: the last count observed in the bucket;
 * and the site's last rounds with their gate figures (the model versions over time come from the model history).
 *
 * Pure: the caller passes the time of each observation, so tests need no clock. Bounded: at most `maxPoints` points
 * and MAX_ROUNDS rounds per site, MAX_SITES sites (the least recently updated one dropped first), and the open
 * bucket's per-agent rates at most MAX_AGENTS_PER_SITE agents (the fleet view's bound).
 * Persisted best-effort by hub/ops/history-file.ts; the schema below is what it writes and reads back.
 */
import { z } from 'zod';
import type { Telemetry } from '../../shared/protocol/messages';
import { MAX_AGENTS_PER_SITE, type RoundSummary } from './fleet-view';

export const MAX_SITES = 1000;
export const MAX_ROUNDS = 100;
const MAX_CLASSES = 1000;

const Num = z.number().finite();
export const HistoryPointSchema = z.strictObject({
  t: Num,
  windowsPerSec: Num.min(0),
  confidence: Num.min(0).max(1).nullable(),
  drift: Num.nullable(),
  classCounts: z.array(Num.min(0)).max(MAX_CLASSES),
  uploads: Num.min(0),
  agentsOnline: Num.int().min(0).nullable(),
});
export type HistoryPoint = z.infer<typeof HistoryPointSchema>;

const RoundSchema = z.strictObject({
  jobId: z.string().max(128), outcome: z.enum(['published', 'rejected', 'skipped', 'failed']), trigger: z.string().max(64),
  finishedAt: Num, seconds: Num.nullable(), version: z.string().max(64).nullable(),
  candidateAgreement: Num.nullable(), currentAgreement: Num.nullable(), windows: Num.nullable(), heldOut: Num.nullable(),
  reasons: z.array(z.string().max(1000)).max(32), error: z.strictObject({ code: z.string().max(64), message: z.string().max(1000) }).nullable(),
});

export const HistoryFileSchema = z.strictObject({
  format: z.literal(1),
  bucketMs: Num.positive(),
  sites: z.record(z.string().max(64), z.strictObject({ points: z.array(HistoryPointSchema), rounds: z.array(RoundSchema) })),
});
export type HistoryFile = z.infer<typeof HistoryFileSchema>;

interface OpenBucket {
  readonly t: number;
  readonly rates: Map<string, { sum: number; n: number }>;
  confSum: number;
  confWeight: number;
  driftSum: number;
  driftN: number;
  classCounts: number[];
  uploads: number;
  agentsOnline: number | null;
}

interface SiteSeries {
  points: HistoryPoint[];
  rounds: RoundSummary[];
  open: OpenBucket | undefined;
  /** The store's sequence number at the last observation (undefined until the first one after a start). */
  lastSeq: number | undefined;
}

export interface SiteHistoryOptions {
  readonly bucketMs?: number;
  readonly maxPoints?: number;
}

export class SiteHistory {
  readonly bucketMs: number;
  readonly maxPoints: number;
  private readonly sites = new Map<string, SiteSeries>();

  constructor(o: SiteHistoryOptions = {}) {
    this.bucketMs = o.bucketMs ?? 60_000;
    this.maxPoints = o.maxPoints ?? 1440;
  }

  /** One telemetry message of `agent` at `at`. */
  telemetry(site: string, agent: string, t: Telemetry, at: number): void {
    const b = this.bucket(site, at);
    const r = b.rates.get(agent) ?? { sum: 0, n: 0 };
    if (!b.rates.has(agent) && b.rates.size >= MAX_AGENTS_PER_SITE) return;
    r.sum += t.windowsPerSec;
    r.n++;
    b.rates.set(agent, r);
    const counts = t.classCounts ?? [];
    const windows = counts.reduce((a, c) => a + c, 0);
    if (t.meanConfidence !== undefined && t.meanConfidence !== null && windows > 0) {
      b.confSum += t.meanConfidence * windows;
      b.confWeight += windows;
    }
    if (t.driftScore !== null) {
      b.driftSum += t.driftScore;
      b.driftN++;
    }
    counts.forEach((c, i) => {
      if (i < MAX_CLASSES) b.classCounts[i] = (b.classCounts[i] ?? 0) + c;
    });
  }

  /** What the hub sees of the site at `at`: the store's last sequence number and the agents online. */
  observe(site: string, at: number, seq: number, agentsOnline: number): void {
    const b = this.bucket(site, at);
    const s = this.sites.get(site) as SiteSeries;
    if (s.lastSeq !== undefined && seq > s.lastSeq) b.uploads += seq - s.lastSeq;
    s.lastSeq = seq;
    b.agentsOnline = agentsOnline;
  }

  /** A finished round (skipped ones are left out: they change nothing a plot would show). */
  round(site: string, r: RoundSummary): void {
    if (r.outcome === 'skipped') return;
    const s = this.series(site);
    s.rounds.push(r);
    if (s.rounds.length > MAX_ROUNDS) s.rounds.splice(0, s.rounds.length - MAX_ROUNDS);
  }

  /** The site's points, oldest first, the open bucket last (partial), and its rounds. */
  get(site: string): { points: HistoryPoint[]; rounds: RoundSummary[] } {
    const s = this.sites.get(site);
    if (s === undefined) return { points: [], rounds: [] };
    return { points: s.open === undefined ? [...s.points] : [...s.points, close(s.open)], rounds: [...s.rounds] };
  }

  siteNames(): string[] {
    return [...this.sites.keys()].sort();
  }

  /** Everything, for the state dir (the open bucket written as a point: a restart continues after it). */
  toFile(): HistoryFile {
    const sites: HistoryFile['sites'] = {};
    for (const name of this.siteNames()) sites[name] = this.get(name) as HistoryFile['sites'][string];
    return { format: 1, bucketMs: this.bucketMs, sites };
  }

  /** Takes over a file's points and rounds (bounded again: the file may come from a hub with other bounds). */
  load(file: HistoryFile): void {
    for (const [name, v] of Object.entries(file.sites).slice(-MAX_SITES)) {
      const s = this.series(name);
      s.points = [...v.points].sort((a, b) => a.t - b.t).slice(-this.maxPoints);
      s.rounds = v.rounds.slice(-MAX_ROUNDS) as RoundSummary[];
    }
  }

  private series(site: string): SiteSeries {
    let s = this.sites.get(site);
    if (s !== undefined) {
      this.sites.delete(site); // re-inserted last: the map's order is least recently updated first
    } else {
      s = { points: [], rounds: [], open: undefined, lastSeq: undefined };
      if (this.sites.size >= MAX_SITES) this.sites.delete(this.sites.keys().next().value as string);
    }
    this.sites.set(site, s);
    return s;
  }

  /** The site's bucket for `at`, closing the open one when `at` is past it. A late observation joins the open one. */
  private bucket(site: string, at: number): OpenBucket {
    const s = this.series(site);
    const t = Math.floor(at / this.bucketMs) * this.bucketMs;
    if (s.open !== undefined && t > s.open.t) {
      s.points.push(close(s.open));
      if (s.points.length > this.maxPoints) s.points.splice(0, s.points.length - this.maxPoints);
      s.open = undefined;
    }
    s.open ??= { t, rates: new Map(), confSum: 0, confWeight: 0, driftSum: 0, driftN: 0, classCounts: [], uploads: 0, agentsOnline: null };
    return s.open;
  }
}

function close(b: OpenBucket): HistoryPoint {
  let windowsPerSec = 0;
  for (const r of b.rates.values()) windowsPerSec += r.sum / r.n;
  return {
    t: b.t, windowsPerSec,
    confidence: b.confWeight > 0 ? Math.min(1, b.confSum / b.confWeight) : null,
    drift: b.driftN > 0 ? b.driftSum / b.driftN : null,
    classCounts: [...b.classCounts].map((c) => c ?? 0), uploads: b.uploads, agentsOnline: b.agentsOnline,
  };
}

/**
 * The hub's Prometheus metrics (prom-client, its own Registry so two hubs in one process never share series). Gauges
 * are filled at scrape time from the site registry, the sample store and the fleet view, so a series always says
 * what the hub knows now, and a site or agent that is gone disappears with its series (each gauge is reset first).
 * Rounds are the only events: a counter by outcome and a histogram of durations, fed by FleetView.onRound.
 * Names and units follow Prometheus conventions (seconds, bytes, `_total`); docs/operate.md lists them.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MlPoolStats } from '../worker/ml-pool';
import { versionNumber } from '../models/versioning';
import type { SiteRegistry } from '../sites/site-registry';
import type { SampleStore } from '../store/sample-store';
import { agentAlerts, siteAlerts, type AlertThresholds } from './alerts';
import { ROUND_OUTCOMES, type FleetView } from './fleet-view';

export interface MetricsSources {
  readonly registry: SiteRegistry;
  readonly store: SampleStore;
  readonly view: FleetView;
  readonly thresholds: AlertThresholds;
  sites(): string[];
  now(): number;
  ready(): boolean;
  jobs(): { readonly running: number; readonly queued: number };
  /** Sample batches answered HUB_BUSY since the hub started. */
  ingestBusy?(): number;
  /** The warm training workers' counters (hub/worker/ml-pool.ts), when the hub runs its own pool. */
  workerPool?(): WorkerPoolFigures | undefined;
}

const POOL_EVENTS = ['started', 'tasks', 'overflow', 'aborted', 'crashed', 'recycled'] as const;
export type WorkerPoolFigures = Pick<MlPoolStats, 'warm' | (typeof POOL_EVENTS)[number]>;

type G = Gauge<string>;

/** Round durations: a site-adapt round takes seconds, a UNI-KD round minutes (bench/results/adaptation-har*.md). */
const ROUND_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export function createMetrics(s: MetricsSources): Registry {
  // Not prom-client's default process metrics: three of its gauges end in `_total`, which `promtool check metrics`
  // reports as a problem (exit 3); the hub's own process figures below are enough to see it grow.
  const reg = new Registry();
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: G) => void): void => {
    new Gauge({ name, help, labelNames, registers: [reg], collect() { this.reset(); fill(this); } });
  };
  hubGauges(s, gauge);
  siteGauges(s, gauge);
  agentGauges(s, gauge);
  roundMetrics(s, reg);
  // A counter read from the inbound stats at scrape time (reset, then set to the running total).
  new Counter({ name: 'sitekd_ingest_busy_total', help: 'sample batches answered HUB_BUSY (ingest full; the agent resends after retryAfterMs)', registers: [reg], collect() {
    this.reset();
    this.inc(s.ingestBusy?.() ?? 0);
  } });
  poolMetrics(s, reg, gauge);
  return reg;
}

type MakeGauge = (name: string, help: string, labelNames: string[], fill: (g: G) => void) => void;

/** A crashed or recycled worker is otherwise only a log line; overflow says the pool is smaller than the work. */
function poolMetrics(s: MetricsSources, reg: Registry, gauge: MakeGauge): void {
  gauge('sitekd_worker_pool_warm', 'warm training worker threads alive', [], (g) => g.set(s.workerPool?.()?.warm ?? 0));
  new Counter({ name: 'sitekd_worker_pool_events_total', help: 'training worker pool events: workers started, tasks run, tasks in an overflow worker, tasks aborted, workers crashed, workers recycled', labelNames: ['event'], registers: [reg], collect() {
    this.reset();
    const p = s.workerPool?.();
    for (const e of POOL_EVENTS) this.inc({ event: e }, p?.[e] ?? 0);
  } });
}

function hubGauges(s: MetricsSources, gauge: MakeGauge): void {
  gauge('sitekd_hub_ready', '1 once the teacher and the generic student exist and the broker connection is up', [], (g) => g.set(s.ready() ? 1 : 0));
  gauge('sitekd_jobs', 'redistill jobs by state', ['state'], (g) => {
    const j = s.jobs();
    g.set({ state: 'running' }, j.running);
    g.set({ state: 'queued' }, j.queued);
  });
  gauge('sitekd_hub_resident_memory_bytes', "the hub process's resident set size", [], (g) => g.set(process.memoryUsage().rss));
  gauge('sitekd_hub_heap_used_bytes', "the hub process's V8 heap in use", [], (g) => g.set(process.memoryUsage().heapUsed));
  gauge('sitekd_store_bytes', 'bytes of the batches the sample store holds (all sites; what maxStoreBytes bounds)', [], (g) => g.set(s.store.stats().bytes));
  gauge('sitekd_store_disk_bytes', "bytes of the sample store's files on disk, evicted batches still in packs included", [], (g) => g.set(s.store.stats().diskBytes));
}

function siteGauges(s: MetricsSources, gauge: MakeGauge): void {
  const each = (fn: (g: G, site: string) => void) => (g: G) => { for (const site of s.sites()) fn(g, site); };
  gauge('sitekd_agents_online', 'agents of the site online by their last status', ['site'], each((g, site) => {
    g.set({ site }, s.registry.agents(site).filter((a) => a.state === 'online').length);
  }));
  gauge('sitekd_agents', 'agents of the site the hub has heard of, by liveness', ['site', 'state'], each((g, site) => {
    const agents = s.registry.agents(site);
    for (const state of ['online', 'stale', 'offline']) g.set({ site, state }, agents.filter((a) => a.state === state).length);
  }));
  gauge('sitekd_store_windows', 'windows stored for the site', ['site'], each((g, site) => g.set({ site }, s.store.count(site))));
  gauge('sitekd_new_windows', 'windows stored for the site since its last round', ['site'], each((g, site) => g.set({ site }, s.registry.newWindows(site))));
  gauge('sitekd_model_version_number', 'number of the version the site is served (1 = the generic student)', ['site'], each((g, site) => {
    const v = s.registry.modelVersion(site);
    if (v !== undefined) g.set({ site }, versionNumber(v));
  }));
  gauge('sitekd_model_version_age_seconds', 'time since the version the site is served was published', ['site'], each((g, site) => {
    const at = s.registry.site(site)?.modelVersionAt;
    if (at !== undefined) g.set({ site }, Math.max(0, s.now() - at) / 1000);
  }));
  gauge('sitekd_rounds_failed_in_a_row', 'rounds of the site that failed since the last one that did not (skipped ones not counted)', ['site'], each((g, site) => {
    g.set({ site }, s.view.failedInARow(site));
  }));
  gauge('sitekd_alert_rounds_failing', '1 when the last roundsFailingAlert rounds of the site failed', ['site'], each((g, site) => {
    g.set({ site }, siteAlerts(site, [], s.view, s.thresholds).some((a) => a.kind === 'rounds-failing') ? 1 : 0);
  }));
}

function agentGauges(s: MetricsSources, gauge: MakeGauge): void {
  const eachAgent = (fn: (g: G, labels: { site: string; agent: string }, site: string, agent: string) => void) => (g: G) => {
    for (const site of s.sites()) for (const a of s.registry.agents(site)) fn(g, { site, agent: a.agent }, site, a.agent);
  };
  const tele = (name: string, help: string, pick: (t: NonNullable<ReturnType<FleetView['agentTelemetry']>>['telemetry']) => number | null): void =>
    gauge(name, help, ['site', 'agent'], eachAgent((g, labels, site, agent) => {
      const t = s.view.agentTelemetry(site, agent);
      const v = t === undefined ? null : pick(t.telemetry);
      if (v !== null) g.set(labels, v);
    }));
  gauge('sitekd_agent_up', '1 when the agent is online by its last status and not silent for longer than staleAfterSeconds', ['site', 'agent'], (g) => {
    for (const site of s.sites()) for (const a of s.registry.agents(site)) g.set({ site, agent: a.agent }, a.state === 'online' ? 1 : 0);
  });
  gauge('sitekd_agent_last_seen_seconds', 'time since the hub last heard from the agent', ['site', 'agent'], (g) => {
    for (const site of s.sites()) for (const a of s.registry.agents(site)) g.set({ site, agent: a.agent }, Math.max(0, s.now() - a.lastSeenAt) / 1000);
  });
  tele('sitekd_agent_windows_per_second', 'windows the agent classified per second (its last telemetry)', (t) => t.windowsPerSec);
  tele('sitekd_agent_inference_p99_seconds', "99th percentile of the agent's inference latency (its last telemetry)", (t) => (t.inferP99Ms === null ? null : t.inferP99Ms / 1000));
  tele('sitekd_agent_outbox_depth', 'sample batches waiting in the agent outbox', (t) => t.outboxDepth);
  tele('sitekd_agent_outbox_bytes', 'bytes waiting in the agent outbox', (t) => t.outboxBytes);
  tele('sitekd_agent_drift_score', "rise of the agent's mean normalised predictive entropy since its model was activated (-1..1)", (t) => t.driftScore);
  gauge('sitekd_alert_agent_offline', '1 when the agent is offline or stale', ['site', 'agent'], (g) => {
    for (const site of s.sites()) for (const a of s.registry.agents(site)) g.set({ site, agent: a.agent }, a.state !== 'online' ? 1 : 0);
  });
  gauge('sitekd_alert_drift', "1 when the agent's drift score is above driftAlertThreshold", ['site', 'agent'], (g) => {
    for (const site of s.sites()) for (const a of s.registry.agents(site)) g.set({ site, agent: a.agent }, agentAlerts(a, s.view, s.thresholds).some((x) => x.kind === 'drift') ? 1 : 0);
  });
}

function roundMetrics(s: MetricsSources, reg: Registry): void {
  const rounds = new Counter({ name: 'sitekd_rounds_total', help: 'redistillation rounds by outcome', labelNames: ['site', 'outcome'], registers: [reg] });
  const duration = new Histogram({ name: 'sitekd_round_duration_seconds', help: 'wall time of a round, queue wait excluded', labelNames: ['site'], buckets: ROUND_BUCKETS, registers: [reg] });
  // Every served site has every outcome at 0 from the start, so increase() and rate() see the first round.
  for (const site of s.sites()) for (const outcome of ROUND_OUTCOMES) rounds.inc({ site, outcome }, 0);
  s.view.onRound((site, r) => {
    rounds.inc({ site, outcome: r.outcome });
    if (r.seconds !== null && r.outcome !== 'skipped') duration.observe({ site }, r.seconds);
  });
}

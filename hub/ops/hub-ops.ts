/**
 * The operator's view of a running hub, wired in one place so hub/hub.ts only creates, attaches and closes it:
 *  - a FleetView fed by agents' telemetry (its own subscription on the hub's connection, beside hub/mqtt/inbound.ts
 *    which keeps liveness) and by the redistill queue's finished jobs;
 *  - the Prometheus registry over it and, with `httpPort` set, the HTTP server (`/metrics`, `/healthz`, `/readyz`)
 *    and the web dashboard on it (`/`, `/events`, `POST /api/redistill`: hub/ops/dashboard.ts);
 *  - per site, what `sitekd status` shows beyond the registry (latest telemetry of each agent, the last round with
 *    its gate figures, alerts), merged into the `sites` command's reply;
 *  - the dashboard's history (hub/ops/site-history.ts, `GET /api/history`): fed by the same telemetry and rounds,
 *    and every `tickMs` by the store's upload count and the agents online; kept in the state dir (history-file.ts).
 */
import { join } from 'node:path';
import { Counter } from 'prom-client';
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { credentialsPath } from '../auth/credentials-file';
import { toWireJobEvent } from '../jobs/job-events';
import { decode } from '../../shared/protocol/codec';
import { TelemetrySchema } from '../../shared/protocol/messages';
import { parseTopic, sub } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { HubConfig } from '../config';
import type { JobQueue } from '../jobs/job-queue';
import type { RedistillResult } from '../jobs/redistill-job';
import type { SiteRegistry } from '../sites/site-registry';
import type { SampleStore } from '../store/sample-store';
import { siteAlerts, type Alert, type AlertThresholds } from './alerts';
import { Dashboard } from './dashboard';
import { FleetView } from './fleet-view';
import { OperatorAuth } from './http-auth';
import { startOpsHttp, type OpsHttpServer, type Readiness } from './http-server';
import { hubDir } from '../shard/shared-state';
import { HISTORY_FILE, loadHistoryFile, writeHistoryFile } from './history-file';
import { createMetrics, type WorkerPoolFigures } from './metrics';
import { SiteHistory } from './site-history';

/** How often the history is written to the state dir while the hub runs (and once when it stops). */
const PERSIST_EVERY_MS = 5 * 60_000;

export interface HubOpsDeps {
  readonly config: HubConfig;
  readonly log: Logger;
  readonly now: () => number;
  readonly registry: SiteRegistry;
  readonly store: SampleStore;
  sites(): string[];
  /** The class names of the hub's models, when the data source has them (the dashboard's class mix legend). */
  classNames(): readonly string[] | undefined;
  readiness(): Readiness;
  alive(): boolean;
  /** Sample batches answered HUB_BUSY since start (hub/mqtt/inbound.ts backpressure); undefined before ingest is wired. */
  ingestBusy?(): number | undefined;
  workerPool?(): WorkerPoolFigures | undefined;
}

/** What the dashboard asks of the hub: the command replies it shows and the command it sends. */
export interface HubControl {
  /** `{hub, sites}`: the `status` reply and the `sites` reply's list. */
  snapshot(): Record<string, unknown>;
  /** The `redistill` command. */
  redistill(site: string): { readonly jobId: string; readonly state: string; readonly coalesced: boolean };
}

export class HubOps {
  readonly view = new FleetView();
  readonly history: SiteHistory;
  private historyTimer: NodeJS.Timeout | undefined;
  private persistedAt = 0;
  private persisting: Promise<void> = Promise.resolve();
  private http: OpsHttpServer | undefined;
  private queue: JobQueue<RedistillResult> | undefined;
  private dashboard: Dashboard | undefined;
  private readonly thresholds: AlertThresholds;
  private readonly metrics;
  /** Bad input the operator's view met (a bad `/api/history` query, a damaged history file), by error code. */
  private readonly errors: Counter<'code'>;

  constructor(private readonly d: HubOpsDeps) {
    this.history = new SiteHistory({ bucketMs: d.config.historyBucketSeconds * 1000, maxPoints: d.config.historyPoints });
    this.view.onRound((site, r) => this.history.round(site, r));
    this.thresholds = { driftAlertThreshold: d.config.driftAlertThreshold, roundsFailingAlert: d.config.roundsFailingAlert };
    this.metrics = createMetrics({
      registry: d.registry, store: d.store, view: this.view, thresholds: this.thresholds, sites: () => d.sites(), now: d.now,
      ready: () => d.readiness().ready, jobs: () => this.jobCounts(), ingestBusy: () => d.ingestBusy?.() ?? 0,
      workerPool: () => d.workerPool?.(),
    });
    this.errors = new Counter({ name: 'sitekd_ops_errors_total', help: 'bad input met by the HTTP server and the dashboard history, by error code', labelNames: ['code'], registers: [this.metrics] });
  }

  /** Subscribes to telemetry and to the queue's events. */
  attach(t: MqttTransport, queue: JobQueue<RedistillResult>, control: HubControl): void {
    this.queue = queue;
    const c = this.d.config;
    this.dashboard = new Dashboard({ ...control, history: (site, since) => this.siteHistory(site, since), onBadRequest: (code) => this.errors.inc({ code }), auth: new OperatorAuth(c.allowAnonymous ? undefined : credentialsPath(c.stateDir)), log: this.d.log });
    queue.onEvent((e) => {
      if (e.type === 'done' || e.type === 'failed' || e.type === 'skipped') this.view.recordRound(e.job);
      this.dashboard?.jobEvent(toWireJobEvent(e, this.d.now()));
    });
    t.subscribe(sub.allTelemetry(), (topic, payload) => this.onTelemetry(topic, payload), 0).catch((err: unknown) =>
      this.d.log.error('subscribe failed', { topic: sub.allTelemetry(), error: err }));
  }

  /** Starts the HTTP server when `httpPort` is set; resolves with its URL (undefined when off). */
  async listen(): Promise<string | undefined> {
    const c = this.d.config;
    await this.startHistory();
    if (c.httpPort === undefined) return undefined;
    this.http = await startOpsHttp({
      host: c.httpHost ?? c.mqttHost, port: c.httpPort, metrics: this.metrics, alive: () => this.d.alive(), readiness: () => this.d.readiness(), log: this.d.log,
      ...(this.dashboard !== undefined ? { extra: this.dashboard.handle.bind(this.dashboard) } : {}),
    });
    this.d.log.info('http listening', { url: this.http.url, routes: ['/', '/events', '/api/history', '/api/redistill', '/metrics', '/healthz', '/readyz'] });
    return this.http.url;
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  async close(): Promise<void> {
    this.dashboard?.close();
    await this.http?.close();
    if (this.historyTimer !== undefined) {
      clearInterval(this.historyTimer);
      this.historyTimer = undefined;
      this.observeSites();
      await this.persistHistory();
    }
  }

  /** `GET /api/history?site=S`: the site's series, its rounds, and its model history with each round's gate figures. */
  siteHistory(site: string, since = 0): Record<string, unknown> {
    if (!this.d.sites().includes(site) && !this.d.registry.sites().includes(site)) throw new SitekdError(ErrorCode.SITE_UNKNOWN, `unknown site ${site}`);
    const { points, rounds } = this.history.get(site);
    const gate = new Map(rounds.filter((r) => r.version !== null).map((r) => [r.version as string, r]));
    const models = this.d.registry.modelHistory(site).map((m) => {
      const r = m.kind === 'published' ? gate.get(m.version) : undefined;
      return { ...m, gate: r === undefined ? null : { jobId: r.jobId, candidateAgreement: r.candidateAgreement, currentAgreement: r.currentAgreement, heldOut: r.heldOut, windows: r.windows } };
    });
    return { site, bucketSeconds: this.history.bucketMs / 1000, classNames: this.d.classNames() ?? null, since, points: points.filter((p) => p.t >= since), rounds, models };
  }

  private async startHistory(): Promise<void> {
    const file = this.historyPath();
    const loaded = await loadHistoryFile(file, (err) => {
      this.errors.inc({ code: err.code });
      this.d.log.warn('dashboard history set aside', { code: err.code, error: err.message, file: `${file}.bad` });
    });
    if (loaded !== undefined) this.history.load(loaded);
    this.persistedAt = this.d.now();
    this.historyTimer = setInterval(() => {
      this.observeSites();
      if (this.d.now() - this.persistedAt >= PERSIST_EVERY_MS) void this.persistHistory();
    }, Math.min(10_000, this.history.bucketMs));
    this.historyTimer.unref();
  }

  private observeSites(): void {
    const now = this.d.now();
    for (const site of this.d.sites()) {
      const online = this.d.registry.agents(site).filter((a) => a.state === 'online').length;
      this.history.observe(site, now, this.d.store.lastSeq(site), online);
    }
  }

  /** Several hubs on one state directory each keep the history of the sites they served, in their own directory. */
  private historyPath(): string {
    const { stateDir, hubId } = this.d.config;
    return hubId === undefined ? join(stateDir, HISTORY_FILE) : join(hubDir(stateDir, hubId), HISTORY_FILE);
  }

  /** Best effort, one write at a time: a failed write is logged and tried again at the next period. */
  private persistHistory(): Promise<void> {
    this.persistedAt = this.d.now();
    const file = this.historyPath();
    this.persisting = this.persisting.then(() => writeHistoryFile(file, this.history.toFile())).catch((err: unknown) =>
      this.d.log.warn('dashboard history not written', { file, error: err }));
    return this.persisting;
  }

  /** What the `sites` reply adds per site: agents' latest telemetry, the last round, alerts. */
  siteExtras(site: string): Record<string, unknown> {
    const agents = this.d.registry.agents(site);
    const now = this.d.now();
    return {
      telemetry: Object.fromEntries(this.view.telemetryAgents(site).map((agent) => {
        const t = this.view.agentTelemetry(site, agent);
        return [agent, t === undefined ? null : { ageSeconds: Math.max(0, now - t.at) / 1000, ...t.telemetry }];
      })),
      lastRound: this.view.lastRound(site) ?? null,
      rounds: this.view.roundsByOutcome(site),
      alerts: siteAlerts(site, agents, this.view, this.thresholds),
    };
  }

  /** Every alert of every served site. */
  alerts(): Alert[] {
    return this.d.sites().flatMap((site) => siteAlerts(site, this.d.registry.agents(site), this.view, this.thresholds));
  }

  private jobCounts(): { running: number; queued: number } {
    const active = this.queue?.active() ?? [];
    return { running: active.filter((j) => j.state === 'running').length, queued: active.filter((j) => j.state === 'queued').length };
  }

  private onTelemetry(topic: string, payload: Uint8Array): void {
    const t = parseTopic(topic);
    if (t === undefined || t.kind !== 'telemetry') return;
    // Bad telemetry is counted by hub/mqtt/inbound.ts, which decodes the same message; here it is only not kept.
    const r = decode(TelemetrySchema, payload, { maxBytes: this.d.config.maxPayloadBytes });
    if (!r.ok || !this.d.registry.has(t.site)) return;
    this.view.recordTelemetry(t.site, t.agent, r.value, this.d.now());
    this.history.telemetry(t.site, t.agent, r.value, this.d.now());
  }
}

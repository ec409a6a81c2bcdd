/**
 * The pieces hub/hub.ts wires once the broker connection, the sample store and the site registry are open:
 *   inbound messages → Inbound (samples, status, telemetry) and CommandHandler (hub/cmd);
 *   triggers (cron slot, enough new windows, command) → JobQueue → runRedistill (worker thread) → ModelPublisher;
 *   job transitions → JobEvents on hub/jobs;
 *   a published round → RolloutWatcher (fresh windows of the new student) → runRollback on evidence, the same path as
 *   the `rollback` command.
 * The hub keeps its lifecycle and the retained status; these pieces reach both only through `HubContext`.
 */
import { RetainedGuard } from './models/retained-guard';
import { join } from 'node:path';
import type { Clock } from '../shared/clock';
import type { DropCounter } from '../shared/drop-counter';
import { ErrorCode, isSitekdError, SitekdError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { Domain, WindowSet } from '../shared/ml/types';
import { decode } from '../shared/protocol/codec';
import { HubCommandSchema } from '../shared/protocol/messages';
import { hubCmdTopic, sub } from '../shared/protocol/topics';
import type { MqttTransport } from '../shared/transport/mqtt-transport';
import type { HubConfig } from './config';
import { siteDetails } from './hub-status';
import { publishJobEvent, type JobTrigger } from './jobs/job-events';
import { interruptedJobEvent, JobJournal } from './jobs/job-journal';
import { JobQueue, type EnqueueResult } from './jobs/job-queue';
import { runRedistill, type RedistillResult } from './jobs/redistill-job';
import { referenceAdaptSettings } from './jobs/round';
import { runRollback, type RollbackRequest } from './jobs/rollback-job';
import { RolloutWatcher } from './jobs/rollout-watcher';
import { Triggers } from './jobs/triggers';
import type { HubKey } from './models/keys';
import { ModelFiles } from './models/model-files';
import { ModelPublisher } from './models/model-publisher';
import { modelsDir, type InputLayout, type TeacherBundle } from './models/teacher';
import { CommandHandler } from './mqtt/commands';
import { Inbound } from './mqtt/inbound';
import { SiteModels } from './sites/site-models';
import type { SiteRegistry } from './sites/site-registry';
import { hubDir } from './shard/shared-state';
import type { SampleStore } from './store/sample-store';
import type { MlRunner } from './worker/ml-runner';

/** What the pieces need from the hub: its open I/O objects, its source data, and calls back into its lifecycle. */
export interface HubContext {
  readonly config: HubConfig;
  readonly log: Logger;
  readonly clock: Clock;
  readonly now: () => number;
  readonly run: MlRunner;
  readonly transport: MqttTransport;
  readonly store: SampleStore;
  readonly registry: SiteRegistry;
  readonly key: HubKey;
  readonly drops: DropCounter;
  readonly source: Domain;
  readonly input: InputLayout;
  readonly labelled: ReadonlyMap<string, WindowSet>;
  /** Aborts a running round (the hub's stop, after the grace period). */
  readonly abort: AbortSignal;
  teacher(): Promise<TeacherBundle>;
  /** The teacher bundle with the turn voters, once made: what a round adapts. */
  roundModels(): Promise<TeacherBundle>;
  state(): 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';
  servedSites(): string[];
  servesSite(site: string): boolean;
  /** Coalesces bursts of changes into one retained status message. */
  scheduleStatus(): void;
  publishStatus(): void;
  /** The answer to the `status` command without a site. */
  statusReply(): Record<string, unknown>;
  /** What the operator's view adds to a site's `status` / `sites` answer (hub/ops/hub-ops.ts). */
  siteExtras(site: string): Record<string, unknown>;
}

export interface HubServices {
  readonly models: SiteModels;
  readonly watcher: RolloutWatcher;
  readonly triggers: Triggers;
  readonly queue: JobQueue<RedistillResult>;
  readonly inbound: Inbound;
  readonly commands: CommandHandler;
  /** Restores the site's retained model topics when another client deletes or replaces them. */
  readonly retained: RetainedGuard;
  /** The `redistill` command and the `sites` reply, for the other doors to them (the dashboard). */
  readonly redistill: (site: string) => { readonly jobId: string; readonly state: string; readonly coalesced: boolean };
  readonly sitesReply: () => Record<string, unknown>[];
}

type Publish = (topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;

/** Builds the pieces and subscribes them; messages are handled from the moment the subscriptions are up. */
export function wireHub(ctx: HubContext): HubServices {
  const t = ctx.transport;
  const publish: Publish = (topic, payload, opts) => t.publish(topic, payload, opts);
  const files = new ModelFiles(modelsDir(ctx.config.stateDir));
  const publisher = new ModelPublisher({
    transport: t, files, key: ctx.key, versions: ctx.registry, chunkBytes: ctx.config.chunkBytes, now: ctx.now, log: ctx.log,
    keepVersions: ctx.config.keepModelVersions,
  });
  const models = new SiteModels({
    publisher, teacher: () => ctx.teacher(), isStopping: () => ctx.state() === 'stopping' || ctx.state() === 'stopped',
    onPublished: () => ctx.scheduleStatus(), log: ctx.log,
  });
  const newRollbackId = jobIds(ctx.now, 'rb');
  const rollback = (site: string, req: RollbackRequest): ReturnType<typeof runRollback> =>
    runRollback({
      publisher, publish, now: ctx.now, newId: newRollbackId, log: ctx.log,
      onRolledBack: async (s, from) => {
        ctx.scheduleStatus();
        await watcher.rolledBack(s, from);
      },
    }, site, req);
  const watcher = createWatcher(ctx, files, (site, r) => rollback(site, { ...r, trigger: 'evidence' }));
  const jobs = createJobs(ctx, publish, publisher, files, watcher);
  const retained = new RetainedGuard({
    manifest: (site) => publisher.manifest(site), republish: (site) => publisher.republish(site), servesSite: (site) => ctx.servesSite(site),
    clock: ctx.clock, log: ctx.log,
  });
  const services = { models, watcher, retained, ...jobs, ...createHandlers(ctx, publish, models, jobs, watcher, rollback) };
  subscribe(ctx, services);
  return services;
}

/**
 * The rollout watch, judging with the gate's reference (the reference is this function's choice, not the watcher's):
 * the hub's teacher, adapted label-free to the windows judged when the gate uses `adapted-teacher`.
 */
function createWatcher(ctx: HubContext, files: ModelFiles, rollback: ConstructorParameters<typeof RolloutWatcher>[0]['rollback']): RolloutWatcher {
  const c = ctx.config;
  return new RolloutWatcher({
    store: ctx.store, registry: ctx.registry, files, run: ctx.run, rollback, now: ctx.now, log: ctx.log, signal: ctx.abort,
    referenceFor: async () => ({ bytes: (await ctx.teacher()).teacher.bytes, ...(c.gateReference === 'adapted-teacher' ? { adapt: referenceAdaptSettings(c) } : {}) }),
    referenceName: c.gateReference,
    settings: {
      enabled: c.rollbackOnEvidence, confidence: c.rollbackConfidence, margin: c.rollbackMargin, minWindows: c.rollbackMinWindows,
      windowBudget: c.rollbackWindowBudget, backend: c.backend, maxReadWindows: c.maxRoundWindows,
    },
  });
}

function createJobs(ctx: HubContext, publish: Publish, publisher: ModelPublisher, files: ModelFiles, watcher: RolloutWatcher): Pick<HubServices, 'triggers' | 'queue'> {
  const { config: c, log, now, store, registry } = ctx;
  const enqueueAutomatic = (site: string, trigger: JobTrigger): void => {
    try {
      enqueue(ctx, queue, site, trigger);
    } catch (err) {
      // JOB_REJECTED: the queue closed (hub stopping); a trigger then has nothing to do.
      if (!isSitekdError(err, ErrorCode.JOB_REJECTED)) log.error('cannot queue a round', { site, trigger, error: err });
    }
  };
  const triggers = new Triggers({ config: c, registry, sites: () => ctx.servedSites(), enqueue: enqueueAutomatic, clock: ctx.clock, log });
  const queue = new JobQueue<RedistillResult>({
    now,
    // Each round runs in its own worker thread of the hub's warm pool (as many as roundConcurrency): rounds of different
    // sites in parallel, up to the cores.
    concurrency: c.roundConcurrency,
    newId: jobIds(now),
    run: (job, report, signal) =>
      runRedistill(job, {
        store, registry, publisher, files, teacher: () => ctx.roundModels(), source: ctx.source.train,
        input: ctx.input, labelled: (site) => ctx.labelled.get(site), run: ctx.run, now, log,
        settings: { ...c },
      }, report, AbortSignal.any([signal, ctx.abort])),
  });
  // Journaled before it is published: a hub killed during a round then reports the job at its next start.
  const { journal, interrupted, badLines } = JobJournal.openSync(join(c.hubId === undefined ? c.stateDir : hubDir(c.stateDir, c.hubId), 'jobs.journal'));
  if (badLines > 0) log.warn('job journal lines skipped', { file: journal.file, badLines });
  queue.onEvent((e) => {
    try {
      journal.record(e, now());
    } catch (err) {
      log.error('cannot write the job journal', { file: journal.file, error: err });
    }
    void publishJobEvent(e, { publish, now, log, registry });
    if (e.type !== 'progress') ctx.scheduleStatus();
    const r = e.job.result;
    if (e.type === 'done' && r?.outcome === 'published' && r.version !== undefined) {
      watcher.started(e.job.site, r.version, r.currentVersion).catch((err: unknown) => log.error('cannot start a rollout watch', { site: e.job.site, error: err }));
    }
  });
  for (const j of interrupted) void publishJobEvent(interruptedJobEvent(j, now()), { publish, now, log, registry });
  return { triggers, queue };
}

function createHandlers(
  ctx: HubContext,
  publish: Publish,
  models: SiteModels,
  jobs: Pick<HubServices, 'triggers' | 'queue'>,
  watcher: RolloutWatcher,
  rollback: (site: string, req: RollbackRequest) => ReturnType<typeof runRollback>,
): Pick<HubServices, 'inbound' | 'commands' | 'redistill' | 'sitesReply'> {
  const { config: c, log, store, registry, drops } = ctx;
  const inbound = new Inbound({
    publish, store, registry, drops, input: ctx.input, maxPayloadBytes: c.maxPayloadBytes, log,
    ingest: { maxPending: c.ingestMaxPending, retryAfterMs: c.ingestRetryAfterMs },
    servesSite: (site) => ctx.servesSite(site),
    onSamplesStored: (site, n, batch) => {
      ctx.scheduleStatus();
      if (!models.has(site)) void models.ensure(site);
      jobs.triggers.samplesStored(site, n);
      watcher.samplesStored(site, batch);
    },
    onAgentOnline: (site) => {
      ctx.scheduleStatus();
      if (!models.has(site)) void models.ensure(site);
    },
  });
  const knownSite = (site: string): void => {
    if (!ctx.servedSites().includes(site)) throw new SitekdError(ErrorCode.SITE_UNKNOWN, `unknown site ${site}`);
  };
  const redistill = (site: string): { jobId: string; state: string; coalesced: boolean } => {
    knownSite(site);
    const r = enqueue(ctx, jobs.queue, site, 'command');
    return { jobId: r.id, state: r.state, coalesced: r.coalesced };
  };
  // One of several hubs names itself on each site, so `sitekd status` can show who serves what (hub/cli/status-merge.ts).
  const servedBy = c.hubId !== undefined ? { hub: c.hubId } : {};
  const sitesReply = (): Record<string, unknown>[] => ctx.servedSites().map((site) => ({ ...siteDetails({ registry, store }, site), ...ctx.siteExtras(site), ...servedBy }));
  const commands = new CommandHandler({
    publish, drops, maxPayloadBytes: c.maxPayloadBytes, log,
    redistill,
    rollback: async (site, req) => {
      knownSite(site);
      return { ...(await rollback(site, { to: req.to, reason: req.reason ?? 'rolled back by hand', trigger: 'command' })) };
    },
    hubStatus: () => ctx.statusReply(),
    siteStatus: (site) => {
      knownSite(site);
      return { ...siteDetails({ registry, store }, site), ...ctx.siteExtras(site), ...servedBy };
    },
    sites: sitesReply,
  });
  return { inbound, commands, redistill, sitesReply };
}

function subscribe(ctx: HubContext, s: Pick<HubServices, 'inbound' | 'commands' | 'models' | 'retained'>): void {
  const t = ctx.transport;
  t.setHandlerErrorListener((err, topic) => ctx.log.error('message handler failed', { topic, error: err }));
  // One of several hubs subscribes to its own sites' topics only, as it takes them (hub/shard/shard.ts), and leaves a
  // command about a site it does not serve to the hub that does.
  const sharded = ctx.config.hubId !== undefined;
  void Promise.all([
    t.subscribe(hubCmdTopic(), (_topic, p) => (sharded && !commandIsOurs(p, ctx) ? undefined : s.commands.handle(p)), 1),
    ...(sharded ? [] : [
      t.subscribe(sub.allSamples(), (topic, p) => s.inbound.handle(topic, p), 1),
      t.subscribe(sub.allStatus(), (topic, p) => s.inbound.handle(topic, p), 1),
      t.subscribe(sub.allTelemetry(), (topic, p) => s.inbound.handle(topic, p), 0),
      t.subscribe(sub.allModels(), (topic, p) => s.retained.handle(topic, p), 1),
      t.subscribe(sub.allModelChunks(), (topic, p) => s.retained.handle(topic, p), 1),
    ]),
  ]).catch((err: unknown) => ctx.log.error('subscribe failed', { error: err }));
  // After a reconnect the broker may have lost its retained messages (a restarted Mosquitto without persistence).
  t.on('connect', () => {
    if (ctx.state() !== 'running') return;
    ctx.log.info('reconnected to the broker; republishing models and status');
    ctx.publishStatus();
    s.models.republishAll(ctx.servedSites());
  });
}

/** A command without a site, or about a site this hub serves (undecodable ones are the handler's to count). */
function commandIsOurs(payload: Uint8Array, ctx: HubContext): boolean {
  const r = decode(HubCommandSchema, payload, { maxBytes: ctx.config.maxPayloadBytes });
  return !r.ok || r.value.site === undefined || ctx.servesSite(r.value.site);
}

function enqueue(ctx: HubContext, queue: JobQueue<RedistillResult>, site: string, trigger: JobTrigger): EnqueueResult {
  const r = queue.enqueue(site, { trigger });
  if (!r.coalesced) ctx.log.info('redistill queued', { site, job: r.id, trigger });
  return r;
}

/** Job ids: `<prefix>-<time base36>-<n>`, valid topic-level ids and unique across restarts. */
function jobIds(now: () => number, prefix = 'j'): () => string {
  let n = 0;
  return () => `${prefix}-${now().toString(36)}-${++n}`;
}

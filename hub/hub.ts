/**
 * The hub's lifecycle: start the broker (embedded aedes unless `broker` names one), connect, subscribe, make or load
 * the teacher and the generic student, publish every site's model, then serve until stop(). It owns every I/O
 * object of the process (hub/main.ts only parses the command line and handles signals), wires the pieces that
 * handle messages and run rounds (hub/hub-services.ts, connected by hub/hub-wiring.ts), and publishes the retained
 * hub/status on any change.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { withTimeout, type Clock } from '../shared/clock';
import { DropCounter } from '../shared/drop-counter';
import { ErrorCode, SitekdError } from '../shared/errors';
import { acquireStateLock, type StateLock } from '../shared/fs/state-lock';
import type { Domain, WindowSet } from '../shared/ml/types';
import type { HubStatus } from '../shared/protocol/messages';
import { isValidSiteId } from '../shared/protocol/topics';
import type { MqttTransport } from '../shared/transport/mqtt-transport';
import type { EmbeddedBroker } from './mqtt/broker';
import type { HubConfig } from './config';
import type { HubOptions, HubState } from './hub-options';
import { connectHub } from './mqtt/connection';
import type { HubServices } from './hub-services';
import { makeOps, sampleStoreOptions, startHubShard, wireServices, type WiringHost } from './hub-wiring';
import { hubStatus } from './hub-status';
import { StatusPublisher } from './hub-status-publisher';
import { loadOrCreateKey, type HubKey } from './models/keys';
import type { Logger } from '../shared/log';
import type { MlRunner } from './worker/ml-runner';
import { MlWorkerPool } from './worker/ml-pool';
import { SampleStore } from './store/sample-store';
import { SiteRegistry } from './sites/site-registry';
import { loadSourceData } from './models/source-data';
import { prepareTeacher, prepareVoters, turnVoters, type InputLayout, type ModelBytes, type TeacherBundle, type TeacherOptions } from './models/teacher';
import { HubOps } from './ops/hub-ops';
import type { Readiness } from './ops/http-server';
import { openShardState, type ShardState } from './shard/hub-shard';
import { hubDir, withSetupLock } from './shard/shared-state';
import type { Shard } from './shard/shard';

export type { HubOptions, HubState } from './hub-options';

export class Hub {
  state: HubState = 'idle';
  readonly startedAt: number;
  private readonly c: HubConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly now: () => number;
  private readonly run: MlRunner;
  /** The warm training workers, unless the caller brought its own runner (hub/worker/ml-pool.ts). */
  private readonly pool: MlWorkerPool | undefined;
  /** Aborts a running round (stop, after the grace period). */
  private readonly abort = new AbortController();
  /** Aborts the teacher / generic student training of start() (stop, at once). */
  private readonly startAbort = new AbortController();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private signalStopping!: () => void;
  private readonly stoppingSignal = new Promise<void>((resolve) => {
    this.signalStopping = resolve;
  });
  private readonly drops: DropCounter;
  private labelled: ReadonlyMap<string, WindowSet> = new Map();
  private teacher: Promise<TeacherBundle>;
  private resolveTeacher!: (b: TeacherBundle) => void;
  /** The turn voters (none unless turns and `turnVoters` are on); made after the teacher (prepareModels). */
  private voters: Promise<readonly ModelBytes[]> = Promise.resolve([]);
  private rejectTeacher!: (err: unknown) => void;
  private bundle: TeacherBundle | undefined;
  private broker: EmbeddedBroker | undefined;
  private transport: MqttTransport | undefined;
  private store: SampleStore | undefined;
  /** One of several hubs (`hubId`): its sites' locks, stores and the ownership (hub/shard/). */
  private sharded: ShardState | undefined;
  private shard: Shard | undefined;
  private registry: SiteRegistry | undefined;
  /** Message handlers, triggers, the job queue and the site models: set once connected (wire). */
  private services: HubServices | undefined;
  /** Telemetry, rounds, metrics and the HTTP server (hub/ops/). */
  private ops: HubOps | undefined;
  private lock: StateLock | undefined;
  /** The retained hub/status: on change, every status interval, `offline` on stop (hub/hub-status-publisher.ts). */
  private readonly status: StatusPublisher;
  private source: Domain | undefined;
  private input: InputLayout | undefined;
  /** The broker URL the hub connected to. */
  url = '';
  key: HubKey | undefined;

  constructor(private readonly o: HubOptions) {
    this.c = o.config;
    this.log = o.log;
    this.clock = o.clock;
    this.now = () => o.clock.now();
    this.pool = o.run === undefined ? new MlWorkerPool({ size: this.c.roundConcurrency, backend: this.c.backend, log: this.log }) : undefined;
    this.run = o.run ?? (this.pool as MlWorkerPool).run;
    this.startedAt = this.now();
    this.drops = new DropCounter({ clock: o.clock, log: this.log });
    this.teacher = new Promise<TeacherBundle>((resolve, reject) => {
      this.resolveTeacher = resolve;
      this.rejectTeacher = reject;
    });
    this.teacher.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    this.status = new StatusPublisher({
      clock: o.clock, log: this.log, hubId: this.c.hubId, transport: () => this.transport, payload: () => this.statusPayload(),
      live: () => this.state !== 'stopping' && this.state !== 'stopped',
    });
  }

  /**
   * Resolves when the hub serves: broker up, subscribed, teacher ready, every known site's model published. Samples,
   * status and commands are handled from the moment the subscriptions are up, also while the teacher trains.
   * Rejects with JOB_REJECTED when stop() interrupts it.
   */
  start(): Promise<void> {
    if (this.state !== 'idle') return Promise.reject(new SitekdError(ErrorCode.CONFIG_INVALID, `hub.start() called in state ${this.state}`));
    this.state = 'starting';
    this.starting = this.doStart();
    return this.starting;
  }

  private checkNotStopping(): void {
    if (this.state === 'stopping' || this.state === 'stopped') throw new SitekdError(ErrorCode.JOB_REJECTED, 'the hub was stopped while starting');
  }

  private async doStart(): Promise<void> {
    const c = this.c;
    // Before anything reads or writes the state: a second hub on this directory (with several hubs: a second process
    // with this hub id) refuses here (STATE_LOCKED).
    const lockDir = c.hubId === undefined ? c.stateDir : hubDir(c.stateDir, c.hubId);
    this.lock = acquireStateLock(lockDir, {
      what: 'hub', onStale: (p) => this.log.warn('stale state-directory lock taken over', { dir: lockDir, ...p }),
    });
    const data = loadSourceData(c, this.log);
    this.source = data.source;
    this.input = data.input;
    this.labelled = data.labelled;
    fs.mkdirSync(c.stateDir, { recursive: true });
    this.key = await this.hubWide(() => loadOrCreateKey(c.stateDir));
    this.checkNotStopping();
    this.log.info('signing key', { keyId: this.key.keyId, publicKey: this.key.publicKeyFile, created: this.key.created });
    const storeOptions = sampleStoreOptions(c, data.source, this.now, this.log);
    if (c.hubId !== undefined) this.sharded = openShardState(c, c.hubId, storeOptions, this.now);
    const store = (this.store = this.sharded?.store ?? (await SampleStore.open(join(c.stateDir, 'samples'), storeOptions)));
    for (const q of store.quarantined()) this.log.warn('sample store file set aside', { file: q.file, code: q.code, reason: q.reason });
    this.checkNotStopping();
    const registry = (this.registry = this.sharded?.registry ?? (await SiteRegistry.open(join(c.stateDir, 'registry.json'), { now: this.now, staleAfterMs: c.staleAfterSeconds * 1000 })));
    for (const p of registry.problems) this.log.warn('site registry reset', { code: p.code, error: p.message });
    for (const site of store.sites()) registry.setNewWindows(site, store.countSince(site, registry.lastRedistill(site)?.seqMarker ?? 0));
    this.checkNotStopping();
    const conn = await connectHub(c, this.log, { onListening: this.o.onBrokerListening, onBroker: (b) => (this.broker = b), clock: this.clock });
    this.url = conn.url;
    this.transport = conn.transport;
    this.checkNotStopping();
    this.wire();
    if (this.sharded !== undefined) this.shard = await startHubShard(this.sharded, this.services as HubServices, this.wiringHost());
    const httpUrl = await this.ops?.listen();
    if (httpUrl !== undefined) this.o.onHttpListening?.(httpUrl);
    this.checkNotStopping();
    this.status.publish();
    this.status.start(c.statusIntervalSeconds * 1000);
    await this.prepareModels();
    this.checkNotStopping();
    this.services?.triggers.start();
    this.services?.watcher.resume();
    this.state = 'running';
    this.log.info('hub running', { broker: this.url, sites: this.servedSites().length, teacher: this.bundle?.teacher.version });
  }

  /** Stops triggers, lets a running round finish (up to shutdownTimeoutSeconds), then closes everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Resolves as soon as stop() was called. */
  whenStopping(): Promise<void> {
    return this.stoppingSignal;
  }

  private async doStop(): Promise<void> {
    const wasRunning = this.state !== 'idle';
    this.state = 'stopping';
    this.signalStopping();
    this.startAbort.abort();
    this.rejectTeacher(new SitekdError(ErrorCode.JOB_REJECTED, 'the hub is stopping'));
    // start() may wait on a broker that is gone (a publish waits for its PUBACK): not longer than the grace period.
    const graceMs = this.c.shutdownTimeoutSeconds * 1000;
    await withTimeout(this.clock, this.starting ?? Promise.resolve(), graceMs).catch(() => undefined);
    this.services?.triggers.stop();
    this.services?.retained.stop();
    this.status.stop();
    const queue = this.services?.queue;
    if (queue !== undefined && (await withTimeout(this.clock, queue.close(), graceMs)) === 'timeout') {
      this.log.warn('aborting the running round', { afterSeconds: this.c.shutdownTimeoutSeconds });
    }
    this.abort.abort(); // ends a teacher training, a round or a rollout watch's look still running
    await queue?.drain();
    await this.services?.watcher.settle();
    await this.services?.models.settle();
    await this.pool?.close();
    // Every site made durable, flushed and unlocked: the other hubs take them at once.
    await this.shard?.stop();
    if (this.transport !== undefined) {
      await this.status.offline(this.now());
      await this.transport.close(!this.transport.connected).catch(() => undefined);
    }
    await this.ops?.close();
    await this.store?.close();
    await this.registry?.flush();
    await this.broker?.close();
    this.lock?.release();
    this.state = 'stopped';
    if (wasRunning) this.log.info('hub stopped', { dropped: this.drops.total() });
  }

  /** Resolves with the teacher and the generic student once they exist. */
  whenTeacher(): Promise<TeacherBundle> {
    return this.teacher;
  }

  get brokerPort(): number | undefined {
    return this.broker?.port;
  }

  /** The HTTP server's port (`httpPort`, 0 picks a free one), once it listens. */
  get httpPort(): number | undefined {
    return this.ops?.httpPort;
  }

  /** `/readyz`: the teacher and the generic student exist and the broker connection is up. */
  readiness(): Readiness {
    if (this.state === 'stopping' || this.state === 'stopped') return { ready: false, reason: `hub ${this.state}` };
    if (this.bundle === undefined) return { ready: false, reason: 'teacher and generic student not ready yet' };
    if (this.transport?.connected !== true) return { ready: false, reason: 'not connected to the broker' };
    return { ready: true, reason: 'ready' };
  }

  get publicKeyPem(): string | undefined {
    return this.key?.publicKeyPem;
  }

  /** Counters for tests, the `status` command and the log. */
  stats(): Record<string, unknown> {
    return {
      dropped: this.drops.byCode(), droppedByKind: this.drops.byKind(), inbound: { ...this.services?.inbound.stats }, commands: { ...this.services?.commands.stats },
      transport: { ...this.transport?.stats }, store: this.store?.stats(), rssBytes: process.memoryUsage().rss,
    };
  }

  /** Sites the hub serves: configured, persisted, or announced by an agent. */
  servedSites(): string[] {
    if (this.sharded !== undefined) return this.shard?.sites() ?? [];
    return [...new Set([...this.c.sites, ...(this.registry?.sites() ?? [])])].sort();
  }

  servesSite(site: string): boolean {
    if (!isValidSiteId(site)) return false;
    if (this.sharded !== undefined) return this.shard?.holds(site) ?? false;
    // Asked for every inbound message: a known site is answered without building (and sorting) the list of sites.
    if (this.c.sites.includes(site) || this.registry?.has(site) === true) return true;
    // With the embedded broker's authentication, a new site comes only from an agent whose credential names it.
    return this.c.autoAddSites && this.servedSites().length < this.c.maxSites && (this.broker?.auth.enrollable(site) ?? true);
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** Ops first, then the services that answer with its alerts (hub/hub-wiring.ts). */
  private wire(): void {
    const host = this.wiringHost();
    this.ops = makeOps(host);
    this.services = wireServices(host, this.ops);
  }

  /** The hub as the wiring sees it; called once connected, when every I/O object below is set. */
  private wiringHost(): WiringHost {
    return {
      config: this.c, log: this.log, clock: this.clock, now: this.now, run: this.run, transport: this.transport as MqttTransport,
      store: this.store as SampleStore, registry: this.registry as SiteRegistry, key: this.key as HubKey, drops: this.drops,
      source: this.source as Domain, input: this.input as InputLayout, labelled: this.labelled, abort: this.abort.signal, pool: this.pool,
      teacher: () => this.teacher, roundModels: () => this.roundModels(), state: () => this.state, servedSites: () => this.servedSites(), servesSite: (site) => this.servesSite(site),
      scheduleStatus: () => this.status.schedule(), publishStatus: () => this.status.publish(), readiness: () => this.readiness(),
      statusPayload: () => this.statusPayload(), stats: () => this.stats(), services: () => this.services,
    };
  }

  private async prepareModels(): Promise<void> {
    try {
      this.bundle = await this.hubWide(() => prepareTeacher(this.teacherOptions()));
    } catch (err) {
      this.rejectTeacher(err);
      throw err;
    }
    this.resolveTeacher(this.bundle);
    this.status.publish();
    await Promise.all(this.servedSites().map((site) => this.services?.models.ensure(site)));
    this.status.publish();
    // The turn voters after the generic student is out: agents need not wait for them, only rounds do (roundModels).
    const count = turnVoters(this.c);
    if (count > 0) {
      this.voters = this.hubWide(() => prepareVoters(this.teacherOptions(), count));
      this.voters.catch((err: unknown) => {
        if (this.state !== 'stopping' && this.state !== 'stopped') this.log.error('cannot make the turn voters; rounds wait for them and fail', { error: err });
      });
    }
  }

  private teacherOptions(): TeacherOptions {
    return {
      stateDir: this.c.stateDir, teacherFile: this.c.teacher, source: this.source as Domain, input: this.input as InputLayout,
      teacherEpochs: this.c.teacherEpochs, studentEpochs: this.c.epochs, seed: this.c.seed, backend: this.c.backend,
      run: this.run, log: this.log, now: this.now, signal: this.startAbort.signal,
    };
  }

  /** What a round adapts: the teacher bundle, with the turn voters once they are made (hub config `turnVoters`). */
  private async roundModels(): Promise<TeacherBundle> {
    const [bundle, voters] = await Promise.all([this.teacher, this.voters]);
    return voters.length > 0 ? { ...bundle, voters } : bundle;
  }

  private statusPayload(): HubStatus {
    const s = hubStatus({
      hubVersion: this.o.hubVersion, startedAt: this.startedAt, now: this.now(), teacherVersion: this.bundle?.teacher.version ?? null,
      sites: this.servedSites(), registry: this.registry as SiteRegistry, store: this.store as SampleStore, activeJobs: this.services?.queue.active() ?? [],
    });
    return this.c.hubId === undefined || s.state !== 'online' ? s : { ...s, hubId: this.c.hubId };
  }

  /** Hub-wide work (the signing key, the teacher): with several hubs on one state directory, once, under a lock. */
  private hubWide<T>(fn: () => Promise<T>): Promise<T> {
    if (this.c.hubId === undefined) return fn();
    return withSetupLock(this.c.stateDir, { clock: this.clock, log: this.log, maxWaitMs: 3_600_000, signal: this.startAbort.signal }, fn);
  }
}

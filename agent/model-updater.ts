/**
 * Applies model manifests (docs/protocol.md "Model rollout"): the plan comes from the pure `planUpdate`
 * (agent/update-plan.ts); this file only executes its steps — fetch → assemble → decode → swap → probe → commit — and
 * rolls the disk back when a step after the swap fails. One executor per step kind (a missing one is a compile
 * error, after balena's `Executors<T>`); those that only work on the model's bytes are in agent/update-steps.ts.
 *
 * Guarantees: the old model serves until `commit` (the agent swaps its in-memory predictor in one synchronous step);
 * a model whose chunks, sha256, signature, spec or probe fail is never activated; each verified chunk is staged on
 * disk as it arrives, so a transfer cut by a broker outage or an agent restart resumes with only the missing chunks
 * (subscribing to a topic that holds a retained chunk delivers it again, no hub help needed). Nothing here throws
 * into an MQTT callback: payload problems are counted by code (`DropCounter`), step failures are reported as events.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { ChunkAssembler } from '../shared/protocol/chunks';
import { decode } from '../shared/protocol/codec';
import { ModelManifestSchema, type ModelManifest } from '../shared/protocol/messages';
import { modelChunkTopic, parseTopic, sub } from '../shared/protocol/topics';
import type { AgentTransport, InboundKind } from './agent-transport';
import type { Clock, TimerHandle } from '../shared/clock';
import type { DropCounter } from '../shared/drop-counter';
import type { Logger } from '../shared/log';
import type { LoadedModel, ModelShape } from './model-probe';
import type { ChunkStaging, ModelStore } from './model-store';
import { manifestKey, planUpdate, type CurrentModel, type PlanContext, type UpdateStep } from './update-plan';
import { assembleStep, decodeStep, need, probeStep, swapStep, type Run } from './update-steps';

/** Exact chunk topics are subscribed one by one up to this many missing chunks; above it, the `+` filter. */
const MAX_EXACT_SUBSCRIPTIONS = 64;

export type UpdateEvent =
  | { readonly kind: 'started'; readonly version: string; readonly missing: number; readonly chunks: number }
  | { readonly kind: 'applied'; readonly version: string; readonly from: string | null }
  | { readonly kind: 'refused'; readonly version: string; readonly error: SitekdError }
  | { readonly kind: 'failed'; readonly version: string; readonly error: SitekdError; readonly rolledBack: boolean }
  | { readonly kind: 'abandoned'; readonly version: string; readonly reason: string }
  /** No new chunk for `stallMs`: the missing ones are asked for again (re-subscribed: the broker resends retained). */
  | { readonly kind: 'stalled'; readonly version: string; readonly error: SitekdError; readonly missing: readonly number[] };

export interface ModelUpdaterDeps {
  readonly site: string;
  readonly shape: ModelShape;
  readonly trustedKeys: readonly string[];
  readonly store: ModelStore;
  readonly transport: AgentTransport;
  readonly drops: DropCounter<InboundKind>;
  readonly log: Logger;
  readonly maxManifestBytes: number;
  /** The model serving now. */
  readonly current: () => CurrentModel | null;
  /** A few recent real windows for the probe. */
  readonly recentWindows: () => readonly Float32Array[];
  /** Serve `model` from now on (synchronous switch; the agent disposes the old predictor and publishes status). */
  readonly activate: (model: LoadedModel) => void;
  readonly onEvent?: (e: UpdateEvent) => void;
  /** Times the stall watch of a transfer (none without a clock). */
  readonly clock?: Clock;
  /** A transfer with no new chunk for this long is reported and asks again for its missing chunks. Default 30 s. */
  readonly stallMs?: number;
}

/** Where an update is. */
export type TransferState =
  | { readonly kind: 'idle' }
  | {
      readonly kind: 'fetching';
      readonly manifest: ModelManifest;
      readonly assembler: ChunkAssembler;
      readonly staging: ChunkStaging;
      /** Filters subscribed for this transfer. */
      readonly filters: Set<string>;
      readonly done: () => void;
      readonly abort: (reason: string) => void;
    }
  | { readonly kind: 'activating'; readonly manifest: ModelManifest };

export interface UpdaterStats {
  manifests: number;
  chunksReceived: number;
  chunksStored: number;
  chunksResumed: number;
  applied: number;
  failed: number;
  refused: number;
}

type Executors = { readonly [K in UpdateStep['kind']]: (step: Extract<UpdateStep, { kind: K }>, run: Run) => Promise<void> };

class Abandoned extends Error {}

export class ModelUpdater {
  readonly stats: UpdaterStats = { manifests: 0, chunksReceived: 0, chunksStored: 0, chunksResumed: 0, applied: 0, failed: 0, refused: 0 };
  private stateValue: TransferState = { kind: 'idle' };
  private readonly failedKeys = new Set<string>();
  private pending: ModelManifest | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly executors: Executors;

  constructor(private readonly deps: ModelUpdaterDeps) {
    this.executors = {
      fetch: (step, run) => this.fetch(step, run),
      assemble: async (_s, run) => assembleStep(run),
      decode: async (_s, run) => decodeStep(run, this.deps.shape),
      swap: (_s, run) => swapStep(run, this.deps.store),
      probe: async (_s, run) => probeStep(run, this.deps.recentWindows()),
      commit: (_s, run) => this.commit(run),
    };
  }

  get state(): TransferState {
    return this.stateValue;
  }

  /** Handler for `{site}/model` (retained manifest). Never throws. */
  onManifest(topic: string, payload: Uint8Array): void {
    if (this.stopped || payload.byteLength === 0) return; // an empty retained payload clears the manifest
    this.stats.manifests++;
    const r = decode(ModelManifestSchema, payload, { maxBytes: this.deps.maxManifestBytes });
    if (!r.ok) {
      this.deps.drops.record('manifest', r.error, { topic });
      return;
    }
    const plan = planUpdate(this.deps.current(), r.value, this.context());
    this.deps.log.debug('manifest planned', { version: r.value.version, plan: plan.kind, ...(plan.kind === 'skip' ? { reason: plan.reason } : {}) });
    if (plan.kind === 'refuse') return this.refuse(r.value, plan.error, topic, plan.remember);
    if (plan.kind === 'skip') return this.noteSigned(plan.signedAt);
    // A newer valid manifest abandons the transfer in progress (protocol: "the old transfer is abandoned").
    if (this.stateValue.kind === 'fetching') this.stateValue.abort(`superseded by ${r.value.version}`);
    this.pending = r.value;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Handler for `{site}/model/{version}/chunk/{i}`. Never throws. */
  onChunk(topic: string, payload: Uint8Array): void {
    const t = parseTopic(topic);
    const s = this.stateValue;
    if (t?.kind !== 'modelChunk' || s.kind !== 'fetching' || t.version !== s.manifest.version || t.site !== this.deps.site) return;
    if (payload.byteLength === 0) return; // a cleared retained chunk
    this.stats.chunksReceived++;
    const r = s.assembler.add(t.index, payload);
    if (r.status === 'rejected') {
      this.deps.drops.record('chunk', r.error, { topic });
      return;
    }
    if (r.status === 'duplicate') return;
    this.stats.chunksStored++;
    s.staging.put(t.index, payload).catch((err: unknown) => this.deps.log.warn('cannot stage chunk', { index: t.index, err }));
    const exact = modelChunkTopic(this.deps.site, s.manifest.version, t.index);
    if (s.filters.delete(exact)) this.deps.transport.unsubscribe(exact).catch(() => undefined);
    if (s.assembler.isComplete()) s.done();
  }

  /** Stops: abandons a transfer, waits for an activation in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = undefined;
    if (this.stateValue.kind === 'fetching') this.stateValue.abort('stopping');
    await this.running;
  }

  private context(staged?: readonly number[]): PlanContext {
    const s = this.stateValue;
    const inFlight = s.kind === 'idle' ? null : { version: s.manifest.version, sha256: s.manifest.sha256 };
    return {
      site: this.deps.site, shape: this.deps.shape, trustedKeys: this.deps.trustedKeys, inFlight, failed: this.failedKeys,
      newestAccepted: this.deps.store.newestSignedAt, ...(staged ? { staged } : {}),
    };
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined && !this.stopped) {
      const m = this.pending;
      this.pending = undefined;
      try {
        await this.execute(m);
      } catch (err) {
        this.deps.log.error('model update crashed', { version: m.version, err });
      }
    }
  }

  private async execute(m: ModelManifest): Promise<void> {
    // Resume: re-check every chunk staged for this exact manifest; a damaged one is discarded and fetched again.
    const assembler = new ChunkAssembler(m);
    const staging = this.deps.store.staging(m.version, m.sha256);
    await this.deps.store.pruneStaging(staging);
    for (const { index, bytes } of await staging.load()) {
      if (assembler.add(index, bytes).status === 'rejected') await staging.discard(index);
      else this.stats.chunksResumed++;
    }
    const staged = [...Array(m.chunks).keys()].filter((i) => assembler.has(i));
    const plan = planUpdate(this.deps.current(), m, this.context(staged));
    if (plan.kind === 'refuse') return this.refuse(m, plan.error, 'model', plan.remember);
    if (plan.kind === 'skip') return this.noteSigned(plan.signedAt);
    const run: Run = { manifest: m, assembler, staging };
    this.emit({ kind: 'started', version: m.version, missing: m.chunks - staged.length, chunks: m.chunks });
    try {
      for (const step of plan.steps) {
        if (step.kind !== 'fetch') this.stateValue = { kind: 'activating', manifest: m };
        await (this.executors[step.kind] as (s: UpdateStep, r: Run) => Promise<void>)(step, run);
      }
    } catch (err) {
      await this.fail(run, err);
    } finally {
      run.model?.predictor.dispose();
      this.stateValue = { kind: 'idle' };
    }
  }

  private async fetch(step: Extract<UpdateStep, { kind: 'fetch' }>, run: Run): Promise<void> {
    const filters = new Set<string>(
      step.missing.length > MAX_EXACT_SUBSCRIPTIONS
        ? [sub.modelChunks(this.deps.site, step.version)]
        : step.missing.map((i) => modelChunkTopic(this.deps.site, step.version, i)),
    );
    let settle: { done: () => void; abort: (reason: string) => void } | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      settle = { done: resolve, abort: (reason) => reject(new Abandoned(reason)) };
    });
    // An abort can come while the subscriptions below are still pending: mark the rejection handled now.
    finished.catch(() => undefined);
    const s = need(settle);
    this.stateValue = { kind: 'fetching', manifest: run.manifest, assembler: run.assembler, staging: run.staging, filters, ...s };
    const handler = (topic: string, payload: Buffer): void => this.onChunk(topic, payload);
    const watchdog = this.watchStall(run, filters, handler);
    try {
      for (const f of [...filters]) await this.deps.transport.subscribe(f, handler, 1);
      if (run.assembler.isComplete()) s.done();
      await finished;
    } finally {
      watchdog?.cancel();
      for (const f of filters) await this.deps.transport.unsubscribe(f).catch(() => undefined);
    }
  }

  /**
   * A transfer that gets no new chunk for `stallMs` (a chunk deleted, damaged or never published) says so — an event
   * the agent puts in its status — and asks again for what is missing: re-subscribing to a retained topic makes the
   * broker send it again, e.g. after the hub restored it (hub/models/retained-guard.ts).
   */
  private watchStall(run: Run, filters: Set<string>, handler: (topic: string, payload: Buffer) => void): TimerHandle | undefined {
    const clock = this.deps.clock;
    if (clock === undefined) return undefined;
    let stored = this.stats.chunksStored;
    return clock.every(this.deps.stallMs ?? 30_000, () => {
      if (this.stats.chunksStored !== stored || run.assembler.isComplete()) {
        stored = this.stats.chunksStored;
        return;
      }
      const missing = run.assembler.missing();
      const version = run.manifest.version;
      const error = new SitekdError(ErrorCode.MODEL_TRANSFER_STALLED, `model ${version}: no new chunk for ${(this.deps.stallMs ?? 30_000) / 1000} s; ${missing.length} of ${run.manifest.chunks} still missing (asked for again)`, { details: { version, missing } });
      this.emit({ kind: 'stalled', version, error, missing });
      for (const i of missing) {
        const exact = modelChunkTopic(this.deps.site, version, i);
        filters.add(exact);
        void this.deps.transport.unsubscribe(exact).catch(() => undefined).then(() => this.deps.transport.subscribe(exact, handler, 1)).catch(() => undefined);
      }
    });
  }

  /** Serves the new model: the agent swaps its predictor in one synchronous step, then the staged chunks go. */
  private async commit(run: Run): Promise<void> {
    const from = this.deps.current()?.version ?? null;
    this.deps.activate(need(run.model));
    run.model = undefined; // the agent owns it now
    await run.staging.remove().catch((err: unknown) => this.deps.log.warn('cannot remove staging', { err }));
    this.stats.applied++;
    this.emit({ kind: 'applied', version: run.manifest.version, from });
  }

  private async fail(run: Run, err: unknown): Promise<void> {
    const version = run.manifest.version;
    if (err instanceof Abandoned) {
      this.deps.log.info('model transfer abandoned', { version, reason: err.message });
      this.emit({ kind: 'abandoned', version, reason: err.message });
      return;
    }
    const error = err instanceof SitekdError ? err : new SitekdError(ErrorCode.MODEL_CORRUPT, `model ${version} cannot be used: ${String(err)}`, { cause: err });
    let rolledBack = false;
    if (run.token !== undefined) {
      try {
        await this.deps.store.rollback(run.token);
        rolledBack = true;
      } catch (rbErr) {
        this.deps.log.error('rollback failed', { version, err: rbErr });
      }
    }
    this.failedKeys.add(manifestKey(run.manifest));
    // The bytes were wrong as a whole (or unusable): a resumed transfer would rebuild the same bytes.
    await run.staging.remove().catch(() => undefined);
    this.stats.failed++;
    this.deps.drops.record('manifest', error, { version });
    this.emit({ kind: 'failed', version, error, rolledBack });
  }

  /** The hub re-signed the active model later (a rollback to it): remember that time as the floor. Never throws. */
  private noteSigned(t: number | undefined): void {
    if (t === undefined || t <= (this.deps.store.newestSignedAt ?? -Infinity)) return;
    this.deps.store.noteSigned(t).catch((err: unknown) => this.deps.log.warn('cannot persist the newest signed manifest time', { err }));
  }

  private refuse(m: ModelManifest, error: SitekdError, topic: string, remember: boolean): void {
    if (remember) this.failedKeys.add(manifestKey(m));
    this.stats.refused++;
    this.deps.drops.record('manifest', error, { topic });
    this.emit({ kind: 'refused', version: m.version, error });
  }

  private emit(e: UpdateEvent): void {
    try {
      this.deps.onEvent?.(e);
    } catch (err) {
      this.deps.log.warn('update event listener failed', { err });
    }
  }
}

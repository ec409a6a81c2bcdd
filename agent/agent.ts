/**
 * The agent's lifecycle: starts and stops the components (built and connected in agent/agent-components.ts: sensor
 * intake → inference loop → uploader; model updater; telemetry), publishes its status, and holds the one piece of
 * state they share, as a discriminated union (docs/conventions.md §6.4). No I/O
 * object is created here: `agent/main.ts` passes in the transport, the stores, the clock and the logger.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { modelTopic, samplesAckTopic, statusTopic, telemetryTopic } from '../shared/protocol/topics';
import { createAgentComponents, type ComponentDeps } from './agent-components';
import type { Handler, InboundKind } from './agent-transport';
import type { AgentConfig } from './config';
import { withTimeout, type TimerHandle } from '../shared/clock';
import { DropCounter } from '../shared/drop-counter';
import type { InferenceLoop } from './inference-loop';
import type { LoadedModel } from './model-probe';
import { loadStartupModel } from './model-startup';
import type { ModelUpdater, UpdateEvent } from './model-updater';
import { encodePayload } from './payload';
import type { SensorIntake } from './sensor-intake';
import { birthStatus, offlineStatus } from './status';
import type { TelemetryCollector } from './telemetry';
import type { Uploader } from './uploader';

export type AgentState =
  | { readonly kind: 'created' }
  | { readonly kind: 'starting' }
  | { readonly kind: 'running'; readonly since: number }
  | { readonly kind: 'stopping' }
  | { readonly kind: 'stopped' };

export interface LastUpdateError {
  readonly code: string;
  readonly message: string;
  readonly version: string;
  readonly at: number;
}

/** The components' I/O objects and settings (agent/agent-components.ts), and what the agent announces itself. */
export interface AgentDeps extends ComponentDeps {
  /** tfjs backend in use. */
  readonly backend: string;
  readonly agentVersion: string;
  /** Bytes of `config.modelFile`, read by main, when the store holds no model yet. */
  readonly initialModel?: { readonly bytes: Uint8Array; readonly path: string } | undefined;
}

/** A copy of the agent's numbers, for tests and the shutdown log. */
export interface AgentSnapshot {
  readonly state: AgentState['kind'];
  readonly modelVersion: string | null;
  readonly previousVersion: string | null;
  readonly dropped: Record<string, number>;
  readonly inference: InferenceLoop['counters'];
  readonly uploader: Uploader['counters'];
  readonly updater: ModelUpdater['stats'];
  readonly update: ModelUpdater['state']['kind'];
  readonly lastUpdateError: LastUpdateError | null;
  readonly updateFailures: number;
  readonly window: SensorIntake['counters'];
  readonly outbox: { depth: number; bytes: number };
}

export class Agent {
  private stateValue: AgentState = { kind: 'created' };
  private readonly drops: DropCounter<InboundKind>;
  private readonly intake: SensorIntake;
  private readonly inference: InferenceLoop;
  private readonly uploader: Uploader;
  private readonly updater: ModelUpdater;
  private readonly telemetry: TelemetryCollector;
  private readonly startedAt: number;
  private readonly timers: TimerHandle[] = [];
  private subscribed = false;
  private lastUpdateError: LastUpdateError | null = null;
  private updateFailures = 0;
  private readonly updateListeners: Array<(e: UpdateEvent) => void> = [];

  /** Throws CONFIG_INVALID for sensor mappings that cannot work. */
  constructor(private readonly deps: AgentDeps) {
    this.startedAt = deps.clock.now();
    this.drops = new DropCounter<InboundKind>({ clock: deps.clock, log: deps.log });
    const parts = createAgentComponents(deps, {
      drops: this.drops,
      activate: (m) => this.activate(m),
      onUpdateEvent: (e) => this.onUpdateEvent(e),
    });
    this.intake = parts.intake;
    this.inference = parts.inference;
    this.uploader = parts.uploader;
    this.telemetry = parts.telemetry;
    this.updater = parts.updater;
  }

  get state(): AgentState {
    return this.stateValue;
  }

  /** Loads the stored (or initial) model, subscribes, starts timers. Resolves without waiting for the broker. */
  async start(): Promise<void> {
    if (this.stateValue.kind !== 'created') throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot start an agent that is ${this.stateValue.kind}`);
    this.stateValue = { kind: 'starting' };
    const model = await loadStartupModel({
      store: this.deps.store,
      shape: { channels: this.deps.config.channels.length, windowLength: this.deps.config.windowLength },
      initial: this.deps.initialModel,
      log: this.deps.log,
      onUnusable: (err) => this.drops.record('manifest', err, { source: 'model store' }),
    });
    if (model !== null) this.activate(model, { announce: false });
    else this.deps.log.warn('no model yet: windows are counted, not classified, until the hub sends one');
    this.deps.transport.on('connect', () => this.onConnect());
    this.uploader.start();
    this.timers.push(this.deps.clock.every(this.deps.config.telemetryIntervalMs, () => this.publishTelemetry()));
    this.stateValue = { kind: 'running', since: this.deps.clock.now() };
    if (this.deps.transport.connected) this.onConnect();
    this.deps.log.info('agent started', { site: this.deps.config.site, agent: this.deps.config.id, modelVersion: model?.version ?? null, backend: this.deps.backend });
  }

  /** Graceful stop: timers off, transfers abandoned, `offline` published (retained), outbox flushed to disk. */
  async stop(): Promise<void> {
    if (this.stateValue.kind === 'stopping' || this.stateValue.kind === 'stopped') return;
    this.stateValue = { kind: 'stopping' };
    for (const t of this.timers) t.cancel();
    await this.updater.stop();
    await this.uploader.stop();
    if (this.deps.transport.connected) {
      const bye = this.publishStatus(offlineStatus(this.deps.clock.now()));
      await withTimeout(this.deps.clock, bye, 2000);
    }
    await this.deps.outbox.close();
    this.inference.setModel(null)?.predictor.dispose();
    this.stateValue = { kind: 'stopped' };
    this.deps.log.info('agent stopped', { ...this.snapshot(), state: 'stopped' });
  }

  /** Called with every model update event (tests, the CLI's log). */
  onUpdate(fn: (e: UpdateEvent) => void): void {
    this.updateListeners.push(fn);
  }

  snapshot(): AgentSnapshot {
    return {
      state: this.stateValue.kind,
      modelVersion: this.inference.currentModel?.version ?? null,
      previousVersion: this.deps.store.previous?.version ?? null,
      dropped: this.drops.byCode(),
      inference: { ...this.inference.counters },
      uploader: { ...this.uploader.counters },
      updater: { ...this.updater.stats },
      update: this.updater.state.kind,
      lastUpdateError: this.lastUpdateError,
      updateFailures: this.updateFailures,
      window: this.intake.counters,
      outbox: { depth: this.deps.outbox.depth, bytes: this.deps.outbox.bytes },
    };
  }

  /** Publishes one telemetry message now (the timer's job; public for tests). */
  publishTelemetry(): void {
    if (!this.deps.transport.connected || this.stateValue.kind !== 'running') return;
    const msg = this.telemetry.snapshot(this.deps.clock.now());
    const topic = telemetryTopic(this.deps.config.site, this.deps.config.id);
    this.deps.transport.publish(topic, encodePayload(this.deps.config.payloadFormat, msg), { qos: 0 }).catch(() => undefined);
  }

  private onConnect(): void {
    if (this.stateValue.kind !== 'running') return;
    this.deps.log.info('connected to the broker');
    if (!this.subscribed) this.subscribeAll();
    this.publishBirth();
    this.uploader.onConnect();
  }

  /**
   * Once, at the first connection: MQTT.js re-subscribes by itself after every reconnect (`resubscribe: true`), and a
   * second `subscribe` would add a second handler. The ack topic comes before any batch is published.
   */
  private subscribeAll(): void {
    const c = this.deps.config;
    this.subscribed = true;
    const subs: Array<[string, Handler, 0 | 1]> = [
      [samplesAckTopic(c.site, c.id), (t, p) => this.uploader.onAck(t, p), 1],
      [modelTopic(c.site), (t, p) => this.updater.onManifest(t, p), 1],
      ...this.intake.topics.map((topic): [string, Handler, 0 | 1] => [topic, (t, p) => this.intake.onMessage(t, p), 0]),
    ];
    for (const [filter, handler, qos] of subs) {
      this.deps.transport.subscribe(filter, handler, qos).catch(async (err: unknown) => {
        // Not confirmed (the connection dropped first): drop our handler and try again at the next connection.
        this.subscribed = false;
        await this.deps.transport.unsubscribe(filter).catch(() => undefined);
        this.deps.log.warn('subscribe failed; retrying at the next connection', { filter, err });
      });
    }
  }

  private publishBirth(): void {
    const c = this.deps.config;
    const status = birthStatus(
      {
        agentVersion: this.deps.agentVersion,
        modelVersion: this.inference.currentModel?.version ?? null,
        backend: this.deps.backend,
        sensors: this.intake.topics,
        channels: c.channels.length,
        windowLength: c.windowLength,
        startedAt: this.startedAt,
        lastUpdateError: this.lastUpdateError,
      },
      this.deps.clock.now(),
    );
    this.publishStatus(status).catch((err: unknown) => this.deps.log.warn('status publish failed', { err }));
  }

  private publishStatus(status: ReturnType<typeof offlineStatus>): Promise<void> {
    const c = this.deps.config;
    return this.deps.transport.publish(statusTopic(c.site, c.id), encodePayload(c.payloadFormat, status), { qos: 1, retain: true });
  }

  private activate(model: LoadedModel, opts: { announce: boolean } = { announce: true }): void {
    const old = this.inference.setModel(model);
    this.uploader.setModel({ version: model.version, numClasses: model.spec.numClasses });
    this.telemetry.drift.reset();
    if (old !== null && old !== model) old.predictor.dispose();
    this.deps.log.info('model active', { version: model.version, from: old?.version ?? null, source: model.source });
    if (opts.announce && this.deps.transport.connected) this.publishBirth();
  }

  private onUpdateEvent(e: UpdateEvent): void {
    const log = this.deps.log;
    if (e.kind === 'stalled') {
      this.lastUpdateError = { code: e.error.code, message: e.error.message, version: e.version, at: this.deps.clock.now() };
      if (this.deps.transport.connected) this.publishBirth();
      log.warn('model transfer stalled; asking again for the missing chunks', { version: e.version, missing: e.missing.length });
    } else if (e.kind === 'refused' || e.kind === 'failed') {
      this.updateFailures++;
      this.lastUpdateError = { code: e.error.code, message: e.error.message, version: e.version, at: this.deps.clock.now() };
      // Operators see refused or rolled-back updates in the retained status (mosquitto_sub …/status).
      if (this.deps.transport.connected) this.publishBirth();
      log.warn(e.kind === 'refused' ? 'model manifest refused' : 'model update failed; the current model keeps serving', {
        version: e.version,
        code: e.error.code,
        message: e.error.message,
        ...(e.kind === 'failed' ? { rolledBack: e.rolledBack } : {}),
      });
    } else if (e.kind === 'started') {
      log.info('model transfer started', { version: e.version, chunks: e.chunks, missing: e.missing });
    } else if (e.kind === 'applied') {
      log.info('model update applied', { version: e.version, from: e.from });
    }
    for (const fn of this.updateListeners) {
      try {
        fn(e);
      } catch (err) {
        log.warn('update listener failed', { err });
      }
    }
  }
}

/** The last will the transport registers at connect: the retained `offline` status, in the configured format. */
export function lastWill(config: AgentConfig): { topic: string; payload: Uint8Array; qos: 1; retain: true } {
  return { topic: statusTopic(config.site, config.id), payload: encodePayload(config.payloadFormat, offlineStatus()), qos: 1, retain: true };
}

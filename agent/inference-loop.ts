/**
 * The hot path: window → student → Prediction (QoS 0) → sample selector. Synchronous from the window to the publish
 * call, so a model swap (a synchronous assignment in `setModel`) can never happen in the middle of a window.
 * Predictions are not published while the client is offline: MQTT.js would queue QoS 0 messages in memory for the
 * whole outage (docs/ecosystem.md §4.1), and a stale prediction is worth nothing; they are counted instead.
 */
import type { Prediction as ModelOutput } from '../shared/ml/predictor';
import type { Prediction } from '../shared/protocol/messages';
import { predictionsTopic } from '../shared/protocol/topics';
import type { AgentTransport } from './agent-transport';
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/log';
import type { LoadedModel } from './model-probe';
import { encodePayload, type PayloadFormat } from './payload';

export interface InferenceLoopOptions {
  readonly site: string;
  readonly agent: string;
  readonly transport: AgentTransport;
  readonly clock: Clock;
  readonly log: Logger;
  readonly payloadFormat: PayloadFormat;
  readonly classNames?: readonly string[] | undefined;
  /** Each classified window: its inference time and outputs. */
  readonly onPredicted: (window: Float32Array, out: ModelOutput, windowStart: number, inferMs: number) => void;
}

export interface InferenceCounters {
  windows: number;
  /** Windows cut while no model was loaded. */
  unpredicted: number;
  predicted: number;
  published: number;
  /** Predictions not sent: offline, or the publish failed. */
  notSent: number;
  inferErrors: number;
}

const RECENT = 4;

export class InferenceLoop {
  readonly counters: InferenceCounters = { windows: 0, unpredicted: 0, predicted: 0, published: 0, notSent: 0, inferErrors: 0 };
  private model: LoadedModel | null = null;
  private readonly topic: string;
  private readonly recent: Float32Array[] = [];

  constructor(private readonly opts: InferenceLoopOptions) {
    this.topic = predictionsTopic(opts.site, opts.agent);
  }

  get currentModel(): LoadedModel | null {
    return this.model;
  }

  /** Serves `model` from the next window on; returns the one it replaces (the caller disposes it). */
  setModel(model: LoadedModel | null): LoadedModel | null {
    const old = this.model;
    this.model = model;
    return old;
  }

  /** The last few windows cut (for probing a new model on real data). */
  recentWindows(): readonly Float32Array[] {
    return this.recent;
  }

  onWindow(window: Float32Array, windowStart: number): void {
    this.counters.windows++;
    this.recent.push(window);
    if (this.recent.length > RECENT) this.recent.shift();
    const model = this.model;
    if (model === null) {
      this.counters.unpredicted++;
      return;
    }
    const t0 = this.opts.clock.monotonicMs();
    let out: ModelOutput;
    try {
      out = model.predictor.predictWindow(window);
    } catch (err) {
      this.counters.inferErrors++;
      this.opts.log.error('inference failed', { version: model.version, err });
      return;
    }
    const inferMs = this.opts.clock.monotonicMs() - t0;
    this.counters.predicted++;
    this.publish(model, out, windowStart, inferMs);
    this.opts.onPredicted(window, out, windowStart, inferMs);
  }

  private publish(model: LoadedModel, out: ModelOutput, windowStart: number, inferMs: number): void {
    if (!this.opts.transport.connected) {
      this.counters.notSent++;
      return;
    }
    const names = this.opts.classNames ?? model.classNames;
    const probs = Array.from(out.probs, (p) => Math.min(1, Math.max(0, p)));
    const msg: Prediction = {
      site: this.opts.site,
      agent: this.opts.agent,
      windowStart,
      cls: out.cls,
      ...(names !== undefined && names.length === probs.length ? { className: names[out.cls] as string } : {}),
      confidence: probs[out.cls] as number,
      probs,
      modelVersion: model.version,
      latencyMs: Math.min(86_400_000, Math.max(0, inferMs)),
    };
    this.opts.transport.publish(this.topic, encodePayload(this.opts.payloadFormat, msg), { qos: 0 }).then(
      () => {
        this.counters.published++;
      },
      () => {
        this.counters.notSent++;
      },
    );
  }
}

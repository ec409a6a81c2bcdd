/**
 * The agent's components and the data flow between them: sensor intake → inference loop → uploader and telemetry,
 * and the model updater beside them. agent/agent.ts owns the lifecycle and the state they share; the components
 * reach it only through `ComponentHooks`.
 */
import type { Clock } from '../shared/clock';
import type { DropCounter } from '../shared/drop-counter';
import type { Logger } from '../shared/log';
import type { AgentTransport, InboundKind } from './agent-transport';
import type { AgentConfig } from './config';
import { InferenceLoop } from './inference-loop';
import type { LoadedModel } from './model-probe';
import type { ModelStore } from './model-store';
import { ModelUpdater, type UpdateEvent } from './model-updater';
import type { Outbox, OutboxCounters } from './outbox';
import { SensorIntake } from './sensor-intake';
import { TelemetryCollector } from './telemetry';
import { Uploader } from './uploader';

/** The I/O objects and settings the components are built from (the agent's `AgentDeps` extends it). */
export interface ComponentDeps {
  readonly config: AgentConfig;
  readonly transport: AgentTransport;
  readonly store: ModelStore;
  readonly outbox: Outbox;
  readonly clock: Clock;
  readonly log: Logger;
  /** Pinned hub public keys (PEM), already checked to be Ed25519. */
  readonly trustedKeys: readonly string[];
  readonly tfMemory: () => { numTensors: number; numBytes: number };
  readonly rssBytes: () => number;
  readonly seed: number;
}

/** What the components call back into the agent for. */
export interface ComponentHooks {
  readonly drops: DropCounter<InboundKind>;
  /** Serve this model from now on (a verified, probed update). */
  activate(model: LoadedModel): void;
  onUpdateEvent(e: UpdateEvent): void;
}

export interface AgentComponents {
  readonly intake: SensorIntake;
  readonly inference: InferenceLoop;
  readonly uploader: Uploader;
  readonly telemetry: TelemetryCollector;
  readonly updater: ModelUpdater;
}

/** Throws CONFIG_INVALID for sensor mappings that cannot work. */
export function createAgentComponents(deps: ComponentDeps, hooks: ComponentHooks): AgentComponents {
  const { config: c, clock, log, transport } = deps;
  const { drops } = hooks;
  // A component calls the others only once data flows, so each may name one built after it.
  const inference = new InferenceLoop({
    site: c.site,
    agent: c.id,
    transport,
    clock,
    log,
    payloadFormat: c.payloadFormat,
    classNames: c.classNames,
    onPredicted: (window, out, start, inferMs) => {
      telemetry.recordWindow(inferMs, out.probs);
      uploader.offer(window, out.logits, out.probs, start);
    },
  });
  const intake = createIntake(c, clock, drops, (n) => telemetry.recordReadings(n), (w, start) => inference.onWindow(w, start));
  const uploader = createUploader(deps, drops);
  const telemetry = new TelemetryCollector(
    {
      outbox: () => ({ depth: deps.outbox.depth, bytes: deps.outbox.bytes, ...pickDropped(deps.outbox.counters) }),
      bytesUploaded: () => uploader.counters.bytesUploaded,
      modelVersion: () => inference.currentModel?.version ?? null,
      dropped: () => drops.byCode(),
      tfMemory: deps.tfMemory,
      rssBytes: deps.rssBytes,
    },
    () => clock.monotonicMs(),
  );
  const updater = new ModelUpdater({
    site: c.site,
    shape: { channels: c.channels.length, windowLength: c.windowLength },
    trustedKeys: deps.trustedKeys,
    store: deps.store,
    transport,
    drops,
    log,
    maxManifestBytes: c.maxMessageBytes,
    current: () => inference.currentModel,
    recentWindows: () => inference.recentWindows(),
    activate: (m) => hooks.activate(m),
    onEvent: (e) => hooks.onUpdateEvent(e),
    clock,
    stallMs: c.modelStallMs,
  });
  return { intake, inference, uploader, telemetry, updater };
}

function pickDropped(c: OutboxCounters): { droppedRecords: number; droppedBytes: number } {
  return { droppedRecords: c.droppedRecords, droppedBytes: c.droppedBytes };
}

function createIntake(
  c: AgentConfig,
  clock: Clock,
  drops: DropCounter<InboundKind>,
  onReadings: (n: number) => void,
  onWindow: (window: Float32Array, startTs: number) => void,
): SensorIntake {
  return new SensorIntake({
    channels: c.channels,
    sources: c.sensors.map((s) => ({ topic: s.topic, format: s.format, channels: s.channels ?? c.channels })),
    sampleRateHz: c.sampleRateHz,
    windowLength: c.windowLength,
    stride: c.stride,
    reorderMs: c.reorderMs,
    maxGapMs: c.maxGapMs,
    maxPayloadBytes: c.maxSensorBytes,
    maxClockSkewMs: c.maxClockSkewMs,
    now: () => clock.now(),
    drops,
    onReadings,
    onWindow,
  });
}

function createUploader(deps: ComponentDeps, drops: DropCounter<InboundKind>): Uploader {
  const c = deps.config;
  return new Uploader({
    site: c.site,
    agent: c.id,
    channels: c.channels.length,
    windowLength: c.windowLength,
    upload: c.upload,
    seed: deps.seed,
    transport: deps.transport,
    outbox: deps.outbox,
    clock: deps.clock,
    log: deps.log,
    drops,
    maxAckBytes: c.maxMessageBytes,
  });
}

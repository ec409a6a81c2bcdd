/**
 * One valid example of every payload, with overrides (docs/conventions.md §5 fixture builders: `makeManifest({ sha256:
 * 'bad' })`). Used by the protocol tests, by the docs test (each example must pass its schema) and by any component
 * test that needs a well-formed message. Deterministic: no clock, no randomness.
 */
import { f32ToBytes } from './codec';
import type {
  AgentStatus,
  HubCommand,
  HubReply,
  HubStatus,
  JobEvent,
  ModelManifest,
  Prediction,
  SampleAck,
  SampleBatch,
  SensorReading,
  Telemetry,
} from './messages';

const T0 = 1_700_000_000_000;
const HEX_A = 'a'.repeat(64);

export function makeAgentStatus(overrides: Partial<Extract<AgentStatus, { state: 'online' }>> = {}): AgentStatus {
  return {
    state: 'online',
    agentVersion: '0.1.0',
    modelVersion: 's-1-0001',
    backend: 'wasm',
    sensors: ['plant/line1/imu'],
    channels: 9,
    windowLength: 128,
    startedAt: T0,
    ts: T0 + 1000,
    ...overrides,
  };
}

export function makePrediction(overrides: Partial<Prediction> = {}): Prediction {
  return {
    site: 'site-a',
    agent: 'gw-1',
    windowStart: T0,
    cls: 2,
    className: 'walking',
    confidence: 0.7,
    probs: [0.05, 0.1, 0.7, 0.05, 0.05, 0.05],
    modelVersion: 's-1-0001',
    latencyMs: 3.2,
    ...overrides,
  };
}

export function makeTelemetry(overrides: Partial<Telemetry> = {}): Telemetry {
  return {
    ts: T0,
    windowsPerSec: 0.78,
    readingsPerSec: 50,
    inferP50Ms: 2.1,
    inferP99Ms: 6.4,
    outboxDepth: 3,
    outboxBytes: 45_000,
    outboxDropped: 0,
    outboxDroppedBytes: 0,
    bytesUploaded: 1_200_000,
    driftScore: 0.12,
    tensors: 31,
    tfBytes: 120_000,
    rssBytes: 95_000_000,
    modelVersion: 's-1-0001',
    dropped: { SITEKD_ERR_MSG_SCHEMA: 2 },
    ...overrides,
  };
}

/**
 * A batch of `n` windows with values i + t/100 + c/10 and logits c − i, alternately sampled uniformly and for
 * uncertainty; shape fields follow `n`, `windowLength`, `channels`, `numClasses`.
 */
export function makeSampleBatch(overrides: Partial<SampleBatch> = {}): SampleBatch {
  const n = overrides.n ?? 2;
  const windowLength = overrides.windowLength ?? 8;
  const channels = overrides.channels ?? 3;
  const numClasses = overrides.numClasses ?? 4;
  const x = new Float32Array(n * windowLength * channels);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < windowLength; t++) {
      for (let c = 0; c < channels; c++) x[(i * windowLength + t) * channels + c] = i + t / 100 + c / 10; // [n, L, C]
    }
  }
  const logits = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) for (let k = 0; k < numClasses; k++) logits[i * numClasses + k] = k - i; // [n, classes]
  return {
    batchId: 'gw-1-0000000001',
    site: 'site-a',
    agent: 'gw-1',
    modelVersion: 's-1-0001',
    channels,
    windowLength,
    numClasses,
    n,
    windows: f32ToBytes(x),
    logits: f32ToBytes(logits),
    windowStarts: Array.from({ length: n }, (_, i) => T0 + i * 1280),
    selectedBy: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 0 : 1)),
    createdAt: T0 + 5000,
    ...overrides,
  };
}

export function makeSampleAck(overrides: Partial<SampleAck> = {}): SampleAck {
  return { batchId: 'gw-1-0000000001', stored: 2, duplicate: false, ...overrides };
}

/** Shape-valid but not signed by any key (the signature is a placeholder): sign it with `signManifest` for real use. */
export function makeManifest(overrides: Partial<ModelManifest> = {}): ModelManifest {
  return {
    site: 'site-a',
    version: 's-1-0002',
    sha256: HEX_A,
    size: 150_000,
    chunkSize: 65_536,
    chunks: 3,
    chunkSha256: [HEX_A, HEX_A, HEX_A],
    spec: { inChannels: 9, windowLength: 128, numClasses: 6, kernelSize: 5, stride: 1, padding: 2, dropout: 0.5, midChannels: 16, finalChannels: 32 },
    algorithm: 'unikd',
    metrics: { candidateAgreement: 0.91, currentAgreement: 0.88 },
    teacherVersion: 't-1',
    createdAt: T0,
    keyId: '0123456789abcdef',
    signature: `${'A'.repeat(86)}==`,
    ...overrides,
  };
}

export function makeHubStatus(overrides: Partial<Extract<HubStatus, { state: 'online' }>> = {}): HubStatus {
  return {
    state: 'online',
    hubVersion: '0.1.0',
    startedAt: T0,
    ts: T0 + 60_000,
    teacherVersion: 't-1',
    sites: [{ site: 'site-a', modelVersion: 's-1-0001', agentsOnline: 1, windowsStored: 640, lastRedistillAt: null }],
    jobs: { running: null, queued: 0 },
    ...overrides,
  };
}

export function makeJobEvent(overrides: Partial<JobEvent> = {}): JobEvent {
  return {
    jobId: 'j-site-a-0001',
    site: 'site-a',
    state: 'done',
    trigger: 'command',
    ts: T0,
    progress: 1,
    result: { version: 's-1-0002', candidateAgreement: 0.91, currentAgreement: 0.88, windows: 640, seconds: 42.5 },
    ...overrides,
  };
}

export function makeHubCommand(overrides: Partial<HubCommand> = {}): HubCommand {
  return { id: 'c-1', cmd: 'redistill', site: 'site-a', replyTo: 'sitekd/v1/hub/reply/ops-1', ...overrides };
}

export function makeHubReply(overrides: Partial<HubReply> = {}): HubReply {
  return { id: 'c-1', ok: true, result: { jobId: 'j-site-a-0001', state: 'queued' }, ...overrides };
}

export function makeSensorReading(overrides: Partial<SensorReading> = {}): SensorReading {
  return { ts: T0, values: [0.12, -0.98, 0.05, 0.01, 0.02, -0.03, 0.4, -0.2, 0.1], ...overrides };
}

/** One builder per payload schema, keyed by the schema's name without `Schema`. */
export const EXAMPLES = {
  AgentStatus: makeAgentStatus,
  Prediction: makePrediction,
  Telemetry: makeTelemetry,
  SampleBatch: makeSampleBatch,
  SampleAck: makeSampleAck,
  ModelManifest: makeManifest,
  HubStatus: makeHubStatus,
  JobEvent: makeJobEvent,
  HubCommand: makeHubCommand,
  HubReply: makeHubReply,
  SensorReading: makeSensorReading,
} as const;

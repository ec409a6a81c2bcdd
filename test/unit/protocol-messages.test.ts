/** The cross-field rules of the payload schemas, one behaviour per test. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ZodType } from 'zod';
import { f32ToBytes } from '../../shared/protocol/codec';
import {
  makeHubCommand,
  makeHubReply,
  makeJobEvent,
  makeManifest,
  makePrediction,
  makeSampleAck,
  makeSampleBatch,
  makeTelemetry,
} from '../../shared/protocol/examples';
import {
  HubCommandSchema,
  HubReplySchema,
  JobEventSchema,
  ModelManifestSchema,
  PredictionSchema,
  SampleAckSchema,
  SampleBatchSchema,
  TelemetrySchema,
} from '../../shared/protocol/messages';

function accepts(schema: ZodType, v: unknown): boolean {
  return schema.safeParse(v).success;
}

test('a prediction needs probabilities that sum to 1 and a class inside them', () => {
  assert.ok(accepts(PredictionSchema, makePrediction()));
  assert.ok(accepts(PredictionSchema, makePrediction({ cls: 1, probs: [0.5, 0.5004] })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ cls: 1, probs: [0.5, 0.6] })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ cls: 0, probs: [1] })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ cls: 6 })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ cls: 1.5 })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ confidence: 1.01 })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ cls: 0, probs: [1.2, -0.2] })));
  assert.ok(!accepts(PredictionSchema, makePrediction({ site: 'a/b' })));
  const { className: _omit, ...noName } = makePrediction();
  assert.ok(accepts(PredictionSchema, noName));
});

test('a sample batch must hold exactly n·L·C and n·classes float32 and n window starts', () => {
  assert.ok(accepts(SampleBatchSchema, makeSampleBatch({ n: 5, windowLength: 32, channels: 2, numClasses: 3 })));
  const b = makeSampleBatch();
  assert.ok(!accepts(SampleBatchSchema, { ...b, windows: b.windows.subarray(4) }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, logits: new Uint8Array(b.logits.length + 4) }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, n: 3 }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, windowStarts: [1] }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, windows: Array.from(b.windows) }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, windows: new Float32Array(b.windows.length / 4) }));
  assert.ok(!accepts(SampleBatchSchema, makeSampleBatch({ n: 0 })));
  assert.ok(!accepts(SampleBatchSchema, { ...makeSampleBatch({ n: 1 }), n: 4097 }));
  for (const batchId of ['short', 'has space here', 'x'.repeat(65), 'dots.are.out']) assert.ok(!accepts(SampleBatchSchema, { ...b, batchId }), batchId);
  assert.ok(accepts(SampleBatchSchema, { ...b, batchId: 'AZaz09_-' }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, windows: f32ToBytes(new Float32Array(b.windows.length / 4).fill(Number.NaN)) }));
});

test('selectedBy: one code per window, 0 (uniform) or 1 (uncertain), and optional for older agents', () => {
  const b = makeSampleBatch();
  assert.deepEqual(b.selectedBy, [0, 1]);
  const { selectedBy: _omit, ...older } = b;
  assert.ok(accepts(SampleBatchSchema, older), 'a batch without selectedBy is still accepted');
  assert.ok(!accepts(SampleBatchSchema, { ...b, selectedBy: [0] }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, selectedBy: [0, 2] }));
  assert.ok(!accepts(SampleBatchSchema, { ...b, selectedBy: ['uniform', 'uncertain'] }));
});

test('an ack may carry a refusal; the counts are bounded', () => {
  assert.ok(accepts(SampleAckSchema, makeSampleAck()));
  assert.ok(accepts(SampleAckSchema, makeSampleAck({ stored: 0, duplicate: true })));
  assert.ok(accepts(SampleAckSchema, makeSampleAck({ stored: 0, error: { code: 'SITEKD_ERR_MODEL_SPEC_MISMATCH', message: 'channels 3 ≠ 9' } })));
  assert.ok(!accepts(SampleAckSchema, makeSampleAck({ stored: -1 })));
  assert.ok(!accepts(SampleAckSchema, makeSampleAck({ stored: 4097 })));
});

test('a manifest must be consistent: chunks = ⌈size/chunkSize⌉, one lowercase hash per chunk, a valid spec', () => {
  assert.ok(accepts(ModelManifestSchema, makeManifest()));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ chunks: 2, chunkSha256: ['a'.repeat(64), 'a'.repeat(64)] })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ chunkSha256: ['a'.repeat(64)] })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ sha256: 'A'.repeat(64) })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ sha256: 'a'.repeat(63) })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ keyId: 'xyz' })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ signature: 'not base64!' })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ spec: { ...makeManifest().spec, extra: 1 } as never })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ spec: { ...makeManifest().spec, numClasses: 1 } })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ version: 'has/slash' })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ metrics: { acc: Number.NaN } })));
  const { teacherVersion: _t, ...noTeacher } = makeManifest();
  assert.ok(accepts(ModelManifestSchema, noTeacher));
});

test('a rollback manifest names the version it replaces and why; nothing else may ride along', () => {
  assert.ok(accepts(ModelManifestSchema, makeManifest({ rollback: { from: 's-1-0003', reason: 'rolled back by hand' } })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ rollback: { from: 'has/slash', reason: 'x' } })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ rollback: { from: 's-1-0003', reason: '' } })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ rollback: { from: 's-1-0003', reason: 'x'.repeat(1001) } })));
  assert.ok(!accepts(ModelManifestSchema, makeManifest({ rollback: { from: 's-1-0003', reason: 'x', force: true } as never })));
});

test('commands: redistill needs a site, replyTo must be publishable, the id is bounded', () => {
  assert.ok(accepts(HubCommandSchema, makeHubCommand()));
  assert.ok(accepts(HubCommandSchema, { id: 'x', cmd: 'sites' }));
  assert.ok(!accepts(HubCommandSchema, { id: 'x', cmd: 'redistill' }));
  assert.ok(!accepts(HubCommandSchema, { id: 'x', cmd: 'reboot' }));
  assert.ok(accepts(HubCommandSchema, makeHubCommand({ cmd: 'rollback', to: '2-0123abcd', reason: 'worse on line 3' })));
  assert.ok(accepts(HubCommandSchema, { id: 'x', cmd: 'rollback', site: 'a' }));
  assert.ok(!accepts(HubCommandSchema, { id: 'x', cmd: 'rollback' }), 'rollback needs a site');
  assert.ok(!accepts(HubCommandSchema, makeHubCommand({ to: '2-0123abcd' })), 'to is for rollback only');
  assert.ok(!accepts(HubCommandSchema, makeHubCommand({ cmd: 'rollback', to: 'a/b' })));
  assert.ok(!accepts(HubCommandSchema, makeHubCommand({ cmd: 'rollback', reason: 'x'.repeat(501) })));
  for (const replyTo of ['a/+', 'a/#', '$SYS/x', '', 'x'.repeat(300)]) assert.ok(!accepts(HubCommandSchema, makeHubCommand({ replyTo })), replyTo);
  for (const id of ['', 'x'.repeat(65), 'a b']) assert.ok(!accepts(HubCommandSchema, makeHubCommand({ id })), id);
});

test('replies: ok without error, not ok with one', () => {
  assert.ok(accepts(HubReplySchema, makeHubReply()));
  assert.ok(accepts(HubReplySchema, { id: 'c-1', ok: false, error: { code: 'SITEKD_ERR_CLI_USAGE', message: 'unknown site' } }));
  assert.ok(!accepts(HubReplySchema, { id: 'c-1', ok: false }));
  assert.ok(!accepts(HubReplySchema, { id: 'c-1', ok: true, error: { code: 'X', message: '' } }));
  assert.ok(accepts(HubReplySchema, { id: 'c-1', ok: true, result: { sites: [{ site: 'a' }], nested: { deep: [1, 2] } } }));
});

test('job events and telemetry keep their enums and bounds', () => {
  assert.ok(accepts(JobEventSchema, makeJobEvent()));
  assert.ok(accepts(JobEventSchema, { jobId: 'j1', site: 's', state: 'queued', trigger: 'schedule', ts: 1 }));
  assert.ok(!accepts(JobEventSchema, makeJobEvent({ state: 'paused' as never })));
  assert.ok(!accepts(JobEventSchema, makeJobEvent({ progress: 1.5 })));
  assert.ok(!accepts(JobEventSchema, makeJobEvent({ result: { version: 's-2', extra: 1 } as never })));
  assert.ok(accepts(JobEventSchema, makeJobEvent({ trigger: 'evidence', result: { version: 's-1-0001', rollbackFrom: 's-1-0002' } })));
  assert.ok(accepts(TelemetrySchema, makeTelemetry({ inferP50Ms: null, inferP99Ms: null, driftScore: null, modelVersion: null })));
  assert.ok(!accepts(TelemetrySchema, makeTelemetry({ outboxDepth: -1 })));
  assert.ok(!accepts(TelemetrySchema, makeTelemetry({ tensors: 1.5 })));
  const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`CODE_${i}`, 1]));
  assert.ok(!accepts(TelemetrySchema, makeTelemetry({ dropped: tooMany })));
});

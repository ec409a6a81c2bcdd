/**
 * Model rollout to a real agent (docs/protocol.md "Model rollout"): a corrupted chunk, a garbage or truncated
 * artifact, an unsigned, wrongly signed or tampered manifest and a spec mismatch are each refused while the old model
 * keeps serving; a transfer cut halfway resumes after an agent restart without fetching the stored chunks again.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode } from '../../shared/errors';
import { encodeCnn } from '../../shared/artifact/cnn-artifact';
import { createCnn } from '../../shared/ml/cnn';
import { inputFor, specFor } from '../../shared/ml/model-spec';
import { tf } from '../../shared/ml/tf';
import { createRng } from '../../shared/random';
import { decode, encode } from '../../shared/protocol/codec';
import { AgentStatusSchema, PredictionSchema, type AgentStatus, type Prediction } from '../../shared/protocol/messages';
import { generateSigningKey } from '../../shared/protocol/signing';
import { predictionsTopic, statusTopic } from '../../shared/protocol/topics';
import type { RunningAgent } from '../../agent/main';
import { AGENT, createHarness, HAR_SPEC, makeModel, prepareModel, SITE, sleep, waitFor, writeModelFile, type Harness } from './agent-harness';

let t0 = 1_700_000_000_000;

/** Readings for two more windows; resolves with the versions of the predictions they produced. */
async function versionsServing(h: Harness, predictions: Array<{ payload: Buffer }>): Promise<string[]> {
  const before = predictions.length;
  await h.publishReadings(t0, 260);
  t0 += 260 * 20 + 10_000; // a gap: the next call starts a fresh run of windows
  await waitFor(() => predictions.length >= before + 2, 5000, 'predictions');
  await sleep(50);
  return predictions.slice(before).map((m) => {
    const r = decode(PredictionSchema, m.payload);
    assert.ok(r.ok);
    return (r.value as Prediction).modelVersion;
  });
}

async function startWithV1(h: Harness): Promise<RunningAgent> {
  const a = await h.start(h.config({ modelFile: writeModelFile(h.dir, makeModel('v1', 1)) }));
  assert.equal(a.agent.snapshot().modelVersion, 'v1');
  return a;
}

test('a valid signed model is applied, the previous one is kept on disk, and status shows the new version', async (t) => {
  const h = await createHarness(t);
  const status = await h.collect(statusTopic(SITE, AGENT));
  const predictions = await h.collect(predictionsTopic(SITE, AGENT));
  const a = await startWithV1(h);
  const p = prepareModel(makeModel('s-1-0002', 7), h.key);
  await h.publishChunks(p);
  await h.publishManifest(p.manifest);
  await waitFor(() => a.agent.snapshot().modelVersion === 's-1-0002', 5000, 'update applied');
  assert.equal(a.agent.snapshot().previousVersion, 'v1');
  await waitFor(
    () => status.some((m) => (decode(AgentStatusSchema, m.payload) as { ok: true; value: AgentStatus }).value.state === 'online' && (decode(AgentStatusSchema, m.payload) as { value: { modelVersion?: string } }).value.modelVersion === 's-1-0002'),
    3000,
    'status with s-1-0002',
  );
  assert.deepEqual([...new Set(await versionsServing(h, predictions))], ['s-1-0002']);
  const models = fs.readdirSync(path.join(h.dir, 'agent', 'models')).filter((f) => f.endsWith('.skm')).sort();
  assert.equal(models.length, 2, `active and previous on disk: ${models.join(', ')}`);
  assert.deepEqual(fs.readdirSync(path.join(h.dir, 'agent', 'models', 'staging')), [], 'staging cleaned up');
});

test('a forged copy of the real manifest naming another site does not block the genuine one (issue 8 finding 4)', async (t) => {
  const h = await createHarness(t);
  const a = await startWithV1(h);
  const p = prepareModel(makeModel('s-1-0003', 9), h.key);
  await h.publishChunks(p);
  // The real signature on a manifest whose site was changed: it no longer verifies, and must not be remembered.
  await h.publishManifest(p.manifest, { raw: encode({ ...p.manifest, site: 'elsewhere' }) }); // on this site's topic
  await sleep(200);
  assert.equal(a.agent.snapshot().modelVersion, 'v1');
  await h.publishManifest(p.manifest);
  await waitFor(() => a.agent.snapshot().modelVersion === 's-1-0003', 5000, 'the genuine manifest applied');
});

test('after the hub re-signs the active model (a rollback it already runs), a replayed newer-numbered manifest signed earlier is stale', async (t) => {
  const h = await createHarness(t);
  const a = await startWithV1(h);
  const modelP = makeModel('s-1-0004', 11);
  const first = prepareModel(modelP, h.key); // signed at t1
  const replayed = prepareModel(makeModel('s-1-0005', 12), h.key); // signed at t2 > t1: the version later rolled back
  const rollback = prepareModel(modelP, h.key); // the same artifact re-signed at t3 > t2
  await h.publishChunks(first);
  await h.publishManifest(first.manifest);
  await waitFor(() => a.agent.snapshot().modelVersion === 's-1-0004', 5000, 'P applied');
  await h.publishManifest(rollback.manifest);
  await sleep(200);
  await h.publishChunks(replayed);
  await h.publishManifest(replayed.manifest);
  await sleep(500);
  assert.equal(a.agent.snapshot().modelVersion, 's-1-0004', 'the replay signed before the rollback does not downgrade the agent');
});

test('a corrupted chunk is rejected and counted; the old model serves until the good copy arrives', async (t) => {
  const h = await createHarness(t);
  const predictions = await h.collect(predictionsTopic(SITE, AGENT));
  const a = await startWithV1(h);
  const p = prepareModel(makeModel('v2', 2), h.key);
  const bad = Uint8Array.from(p.chunks[1] as Uint8Array);
  bad[100] = (bad[100] as number) ^ 0xff;
  await h.publishChunks(p, undefined, new Map([[1, bad]]));
  await h.publishManifest(p.manifest);
  await waitFor(() => (a.agent.snapshot().dropped[ErrorCode.MODEL_CHECKSUM] ?? 0) >= 1, 3000, 'checksum rejection');
  assert.equal(a.agent.snapshot().modelVersion, 'v1');
  assert.equal(a.agent.snapshot().update, 'fetching');
  assert.deepEqual([...new Set(await versionsServing(h, predictions))], ['v1']);
  // The hub republishes the good chunk (retained): the transfer completes.
  await h.publishChunks(p, [1]);
  await waitFor(() => a.agent.snapshot().modelVersion === 'v2', 5000, 'v2 applied');
});

test('a transfer that gets no new chunk is reported stalled in the retained status, asks again, and completes once the chunk is back (issue 8 finding 4)', async (t) => {
  const h = await createHarness(t);
  const status = await h.collect(statusTopic(SITE, AGENT));
  const a = await h.start(h.config({ modelFile: writeModelFile(h.dir, makeModel('v1', 1)), modelStallMs: 300 }));
  const p = prepareModel(makeModel('v2', 2), h.key);
  const bad = Uint8Array.from(p.chunks[0] as Uint8Array);
  bad[10] = (bad[10] as number) ^ 0xff;
  await h.publishChunks(p, undefined, new Map([[0, bad]]));
  await h.publishManifest(p.manifest);
  const stalled = (): boolean =>
    status.some((m) => {
      const r = decode(AgentStatusSchema, m.payload);
      const e = r.ok && r.value.state === 'online' ? r.value.lastUpdateError : undefined;
      return e?.code === ErrorCode.MODEL_TRANSFER_STALLED && e.version === 'v2';
    });
  await waitFor(stalled, 5000, 'a stall in the status');
  assert.equal(a.agent.snapshot().modelVersion, 'v1');
  await h.publishChunks(p, [0]);
  await waitFor(() => a.agent.snapshot().modelVersion === 'v2', 5000, 'v2 applied');
});

test('garbage or truncated artifacts, bad signatures and spec mismatches are never activated', async (t) => {
  const h = await createHarness(t);
  const predictions = await h.collect(predictionsTopic(SITE, AGENT));
  const statuses = await h.collect(statusTopic(SITE, AGENT));
  const a = await startWithV1(h);
  const failures = (): number => a.agent.snapshot().updateFailures;
  const expectRefused = async (what: string, code: string, publish: () => Promise<void>): Promise<void> => {
    const before = failures();
    await publish();
    await waitFor(() => failures() > before, 5000, `${what} refused`);
    const snap = a.agent.snapshot();
    assert.equal(snap.lastUpdateError?.code, code, what);
    assert.equal(snap.modelVersion, 'v1', `${what}: the old model still serves`);
    assert.ok((snap.dropped[code] ?? 0) >= 1, `${what}: counted under ${code}`);
    // Operators see it in the retained status too.
    await waitFor(() => statuses.some((m) => {
      const r = decode(AgentStatusSchema, m.payload);
      return r.ok && r.value.state === 'online' && r.value.lastUpdateError?.code === code && r.value.modelVersion === 'v1';
    }), 3000, `${what}: status shows lastUpdateError`);
  };
  const good = makeModel('v-good', 3);

  // The hub signed bytes that are not an artifact at all.
  const garbage = { version: 'v-garbage', spec: good.spec, bytes: Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 251) };
  await expectRefused('garbage artifact', ErrorCode.MODEL_CORRUPT, async () => {
    const p = prepareModel(garbage, h.key);
    await h.publishChunks(p);
    await h.publishManifest(p.manifest);
  });
  // A truncated artifact, signed as it is.
  await expectRefused('truncated artifact', ErrorCode.MODEL_CORRUPT, async () => {
    const p = prepareModel({ ...good, version: 'v-trunc', bytes: good.bytes.subarray(0, Math.floor(good.bytes.length / 2)) }, h.key);
    await h.publishChunks(p);
    await h.publishManifest(p.manifest);
  });
  // Signed by a key the agent does not trust.
  await expectRefused('untrusted key', ErrorCode.MODEL_SIGNATURE, async () => {
    const p = prepareModel({ ...good, version: 'v-rogue' }, generateSigningKey());
    await h.publishChunks(p);
    await h.publishManifest(p.manifest);
  });
  // Signed, then changed: the signature no longer covers the content.
  await expectRefused('tampered manifest', ErrorCode.MODEL_SIGNATURE, async () => {
    const p = prepareModel({ ...good, version: 'v-tamper' }, h.key);
    await h.publishChunks(p);
    await h.publishManifest({ ...p.manifest, metrics: { candidateAgreement: 1 } });
  });
  // No signature at all: not even a manifest by the schema, so it is a dropped message (MSG_SCHEMA), not an update.
  {
    const p = prepareModel({ ...good, version: 'v-unsigned' }, h.key);
    const { signature: _s, keyId: _k, ...unsigned } = p.manifest;
    await h.publishChunks(p);
    await h.publishManifest(unsigned);
    await waitFor(() => (a.agent.snapshot().dropped[ErrorCode.MSG_SCHEMA] ?? 0) >= 1, 3000, 'unsigned manifest counted');
    assert.equal(a.agent.snapshot().modelVersion, 'v1');
  }
  // A model for 3 channels on a 9-channel agent.
  const three = makeModel('v-3ch', 4, specFor(inputFor(3, 128, 6), 'student'));
  await expectRefused('spec mismatch', ErrorCode.MODEL_SPEC_MISMATCH, async () => {
    const p = prepareModel(three, h.key);
    await h.publishChunks(p);
    await h.publishManifest(p.manifest);
  });
  // A manifest that claims a fitting spec for a 3-channel artifact.
  await expectRefused('artifact spec differs from the manifest', ErrorCode.MODEL_SPEC_MISMATCH, async () => {
    const p = prepareModel({ ...three, version: 'v-3ch-lie' }, h.key, { specOverride: good.spec });
    await h.publishChunks(p);
    await h.publishManifest(p.manifest);
  });
  assert.deepEqual([...new Set(await versionsServing(h, predictions))], ['v1']);
  assert.equal(a.agent.snapshot().previousVersion, null, 'no refused model ever reached the store');

  // And a good one still goes through afterwards.
  const p = prepareModel(good, h.key);
  await h.publishChunks(p);
  await h.publishManifest(p.manifest);
  await waitFor(() => a.agent.snapshot().modelVersion === 'v-good', 5000, 'good model applied');
});

test('a signed model whose outputs overflow fails its probe after the swap and is rolled back on disk', async (t) => {
  const h = await createHarness(t);
  const predictions = await h.collect(predictionsTopic(SITE, AGENT));
  const a = await startWithV1(h);
  await versionsServing(h, predictions); // real windows for the probe
  // Finite weights (the artifact codec accepts them) whose activations overflow float32 to Infinity.
  const net = createCnn(HAR_SPEC, createRng(9));
  for (const name of ['fe.conv1.w', 'fe.conv2.w', 'fe.conv3.w']) {
    const v = net.vars[name] as tf.Variable;
    v.assign(tf.mul(v, 1e20));
  }
  const bytes = encodeCnn(net, { kind: 'student', version: 'v-overflow', algorithm: 'unikd', metrics: {} });
  for (const v of Object.values(net.vars)) v.dispose();
  const p = prepareModel({ version: 'v-overflow', spec: HAR_SPEC, bytes }, h.key);
  await h.publishChunks(p);
  await h.publishManifest(p.manifest);
  await waitFor(() => a.agent.snapshot().updateFailures === 1, 5000, 'probe failure');
  const snap = a.agent.snapshot();
  assert.equal(snap.lastUpdateError?.code, ErrorCode.MODEL_PROBE_FAILED);
  assert.equal(snap.modelVersion, 'v1');
  assert.equal(snap.previousVersion, null, 'the pointer is back as it was');
  const pointer = JSON.parse(fs.readFileSync(path.join(h.dir, 'agent', 'models', 'current.json'), 'utf8')) as { active: { version: string } };
  assert.equal(pointer.active.version, 'v1');
  assert.equal(fs.readdirSync(path.join(h.dir, 'agent', 'models')).filter((f) => f.endsWith('.skm')).length, 1, 'the rolled-back file is gone');
  assert.deepEqual([...new Set(await versionsServing(h, predictions))], ['v1']);
});

test('a transfer cut halfway resumes after an agent restart without fetching the stored chunks again', async (t) => {
  const h = await createHarness(t);
  const model = makeModel('v-resume', 5);
  const p = prepareModel(model, h.key, { chunkSize: 8192 });
  const n = p.chunks.length;
  assert.ok(n >= 6, `${n} chunks`);
  const half = Math.floor(n / 2);
  const first = await startWithV1(h);
  await h.publishChunks(p, [...Array(half).keys()]);
  await h.publishManifest(p.manifest);
  await waitFor(() => first.agent.snapshot().updater.chunksStored === half, 5000, 'first half stored');
  const staging = path.join(h.dir, 'agent', 'models', 'staging');
  await waitFor(() => fs.readdirSync(staging).length === 1 && fs.readdirSync(path.join(staging, fs.readdirSync(staging)[0] as string)).filter((f) => f.startsWith('chunk-') && !f.includes('.tmp')).length === half, 3000, 'chunks staged on disk');
  await first.stop();

  const second = await h.start(h.config());
  assert.equal(second.agent.snapshot().modelVersion, 'v1', 'the old model serves after the restart');
  await waitFor(() => second.agent.snapshot().updater.chunksResumed === half, 5000, 'staged chunks resumed');
  assert.equal(second.agent.snapshot().updater.chunksReceived, 0, 'no stored chunk was fetched again');
  assert.equal(second.agent.snapshot().update, 'fetching');
  await h.publishChunks(p, [...Array(n - half).keys()].map((i) => i + half));
  await waitFor(() => second.agent.snapshot().modelVersion === 'v-resume', 5000, 'resumed model applied');
  assert.equal(second.agent.snapshot().updater.chunksReceived, n - half, 'only the missing chunks came over the wire');
});

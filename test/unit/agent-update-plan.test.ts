import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../../shared/errors';
import { HAR_INPUT, specFor } from '../../shared/ml/model-spec';
import { makeManifest } from '../../shared/protocol/examples';
import type { ModelManifest } from '../../shared/protocol/messages';
import { generateSigningKey, signManifest } from '../../shared/protocol/signing';
import { manifestKey, planUpdate, type PlanContext } from '../../agent/update-plan';

const key = generateSigningKey();
const spec = specFor(HAR_INPUT, 'student');

function signed(overrides: Partial<ModelManifest> = {}): ModelManifest {
  const { keyId: _k, signature: _s, ...rest } = makeManifest({ site: 'site-a', version: 'v2', spec, createdAt: 2000, ...overrides });
  return signManifest(rest, key.privateKeyPem, key.keyId);
}

const ctx = (over: Partial<PlanContext> = {}): PlanContext => ({
  site: 'site-a',
  shape: { channels: 9, windowLength: 128 },
  trustedKeys: [key.publicKeyPem],
  inFlight: null,
  failed: new Set(),
  ...over,
});
const current = { version: 'v1', sha256: 'b'.repeat(64), createdAt: 1000 };

test('a valid new manifest is planned fetch → assemble → decode → swap → probe → commit', () => {
  const m = signed();
  const plan = planUpdate(current, m, ctx());
  assert.equal(plan.kind, 'apply');
  if (plan.kind !== 'apply') return;
  assert.deepEqual(plan.steps.map((s) => s.kind), ['fetch', 'assemble', 'decode', 'swap', 'probe', 'commit']);
  assert.deepEqual(plan.steps[0], { kind: 'fetch', version: 'v2', missing: [...Array(m.chunks).keys()] });
  assert.equal(planUpdate(null, m, ctx()).kind, 'apply', 'no model yet');
});

test('a resumed transfer fetches only the chunks not staged; all staged means no fetch', () => {
  const m = signed();
  const some = planUpdate(current, m, ctx({ staged: [0, 2] }));
  assert.ok(some.kind === 'apply');
  assert.deepEqual(some.steps[0], { kind: 'fetch', version: 'v2', missing: [1] });
  const all = planUpdate(current, m, ctx({ staged: [0, 1, 2] }));
  assert.ok(all.kind === 'apply');
  assert.deepEqual(all.steps.map((s) => s.kind), ['assemble', 'decode', 'swap', 'probe', 'commit']);
});

test('skips: already active, in progress, refused before, older than the active one', () => {
  const m = signed();
  assert.deepEqual(planUpdate({ version: 'v2', sha256: m.sha256, createdAt: 5 }, m, ctx()), { kind: 'skip', reason: 'active', signedAt: m.createdAt });
  assert.deepEqual(planUpdate(current, m, ctx({ inFlight: { version: 'v2', sha256: m.sha256 } })), { kind: 'skip', reason: 'in-progress' });
  assert.deepEqual(planUpdate(current, m, ctx({ failed: new Set([manifestKey(m)]) })), { kind: 'skip', reason: 'failed-before' });
  assert.deepEqual(planUpdate({ ...current, createdAt: 3000 }, m, ctx()), { kind: 'skip', reason: 'older' });
  // The same version rebuilt (another sha256) is a new model; a file-installed model (createdAt null) is always replaceable.
  assert.equal(planUpdate({ version: 'v2', sha256: 'c'.repeat(64), createdAt: null }, m, ctx()).kind, 'apply');
  // Another in-flight version does not block a newer manifest.
  assert.equal(planUpdate(current, m, ctx({ inFlight: { version: 'v9', sha256: 'd'.repeat(64) } })).kind, 'apply');
});

test('stale against the newest signed time ever accepted, not only the active model (issue 8 finding 4)', () => {
  const m = signed();
  // The active model is older than m, but the agent once accepted a manifest signed later (e.g. a rollback to it).
  assert.deepEqual(planUpdate({ ...current, createdAt: 1 }, m, ctx({ newestAccepted: m.createdAt + 1 })), { kind: 'skip', reason: 'older' });
  assert.equal(planUpdate({ ...current, createdAt: 1 }, m, ctx({ newestAccepted: m.createdAt })).kind, 'apply', 'the same time is not older');
  // A freshly installed agent (nothing accepted yet) has no floor.
  assert.equal(planUpdate(null, m, ctx({ newestAccepted: null })).kind, 'apply');
});

test('a refusal is remembered only when the signature verified: a forged copy cannot block the genuine manifest (issue 8 finding 4)', () => {
  const genuine = signed();
  const forgedSite = { ...genuine, site: 'site-b' }; // the real signature, another site: the signature no longer matches
  const p = planUpdate(current, forgedSite, ctx());
  assert.ok(p.kind === 'refuse' && p.error.code === ErrorCode.MODEL_SIGNATURE && !p.remember, 'refused as unsigned, not remembered');
  assert.ok(planUpdate(current, genuine, ctx({ trustedKeys: [] })).kind === 'refuse');
  const noKey = planUpdate(current, genuine, ctx({ trustedKeys: [] }));
  assert.ok(noKey.kind === 'refuse' && !noKey.remember);
  // A manifest the hub really signed for another site is the hub's own mistake: remembered, as any verified refusal.
  const wrongSite = planUpdate(current, signed({ site: 'site-b' }), ctx());
  assert.ok(wrongSite.kind === 'refuse' && wrongSite.error.code === ErrorCode.MSG_SCHEMA && wrongSite.remember);
  assert.equal(planUpdate(current, genuine, ctx()).kind, 'apply', 'the genuine manifest still applies');
});

test('refusals carry their code: wrong site, no key, untrusted key, tampered, spec mismatch', () => {
  const code = (p: ReturnType<typeof planUpdate>): string => (p.kind === 'refuse' ? p.error.code : p.kind);
  assert.equal(code(planUpdate(current, signed({ site: 'site-b' }), ctx())), ErrorCode.MSG_SCHEMA);
  assert.equal(code(planUpdate(current, signed(), ctx({ trustedKeys: [] }))), ErrorCode.MODEL_SIGNATURE);
  assert.equal(code(planUpdate(current, signed(), ctx({ trustedKeys: [generateSigningKey().publicKeyPem] }))), ErrorCode.MODEL_SIGNATURE);
  assert.equal(code(planUpdate(current, { ...signed(), size: 150_001 }, ctx())), ErrorCode.MODEL_SIGNATURE);
  assert.equal(code(planUpdate(current, makeManifest({ site: 'site-a', spec }), ctx())), ErrorCode.MODEL_SIGNATURE, 'the placeholder signature');
  assert.equal(code(planUpdate(current, signed({ spec: { ...spec, inChannels: 3 } }), ctx())), ErrorCode.MODEL_SPEC_MISMATCH);
  assert.equal(code(planUpdate(current, signed({ spec: { ...spec, windowLength: 256 } }), ctx())), ErrorCode.MODEL_SPEC_MISMATCH);
  // Signature first: a replayed old manifest signed by nobody we trust is refused, not skipped as older.
  assert.equal(code(planUpdate({ ...current, createdAt: 9e12 }, signed(), ctx({ trustedKeys: [generateSigningKey().publicKeyPem] }))), ErrorCode.MODEL_SIGNATURE);
});

test('several trusted keys (rotation): any of them may sign', () => {
  const other = generateSigningKey();
  assert.equal(planUpdate(current, signed(), ctx({ trustedKeys: [other.publicKeyPem, key.publicKeyPem] })).kind, 'apply');
});

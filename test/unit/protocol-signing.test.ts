import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { makeManifest } from '../../shared/protocol/examples';
import { ModelManifestSchema, type ModelManifest } from '../../shared/protocol/messages';
import { canonicalJson, generateSigningKey, keyIdOf, signManifest, verifyManifest, type UnsignedManifest } from '../../shared/protocol/signing';

// Key generation is the slow part: two keys for the whole file.
const KEY = generateSigningKey();
const OTHER = generateSigningKey();

function unsigned(): UnsignedManifest {
  const { keyId: _k, signature: _s, ...rest } = makeManifest();
  return rest;
}

test('generateSigningKey returns PEMs and keyId = first 16 hex of sha256(raw public key)', () => {
  assert.match(KEY.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.match(KEY.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
  // The raw Ed25519 key is the last 32 bytes of the SPKI DER.
  const der = Buffer.from(KEY.publicKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  assert.equal(KEY.keyId, createHash('sha256').update(der.subarray(der.length - 32)).digest('hex').slice(0, 16));
  assert.equal(keyIdOf(KEY.privateKeyPem), KEY.keyId);
  assert.notEqual(OTHER.keyId, KEY.keyId);
});

test('a signed manifest passes its schema and verifies, also after a msgpack and a JSON round trip', () => {
  const m = signManifest(unsigned(), KEY.privateKeyPem, KEY.keyId);
  assert.equal(m.keyId, KEY.keyId);
  assert.ok(ModelManifestSchema.safeParse(m).success);
  assert.ok(verifyManifest(m, KEY.publicKeyPem).ok);
  const viaMsgpack = decode(ModelManifestSchema, encode(m));
  assert.ok(viaMsgpack.ok && verifyManifest(viaMsgpack.value, KEY.publicKeyPem).ok);
  // Key order does not matter: reverse every object's keys in JSON.
  const reversed = JSON.stringify(m, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
  );
  const viaJson = decode(ModelManifestSchema, new TextEncoder().encode(reversed));
  assert.ok(viaJson.ok && verifyManifest(viaJson.value, KEY.publicKeyPem).ok);
});

test('any change to any field breaks the signature', () => {
  const m = signManifest(unsigned(), KEY.privateKeyPem, KEY.keyId);
  const tampered: Array<Partial<ModelManifest>> = [
    { sha256: 'b'.repeat(64) },
    { version: 's-1-0003' },
    { site: 'site-b' },
    { size: m.size - 1 },
    { chunkSha256: ['b'.repeat(64), ...m.chunkSha256.slice(1)] },
    { spec: { ...m.spec, numClasses: 5 } },
    { metrics: { ...m.metrics, candidateAgreement: 0.99 } },
    { teacherVersion: undefined },
    { createdAt: m.createdAt + 1 },
    { algorithm: 'kd' },
    { rollback: { from: 's-1-0003', reason: 'slipped in' } },
  ];
  for (const change of tampered) {
    const r = verifyManifest({ ...m, ...change }, KEY.publicKeyPem);
    assert.ok(!r.ok && r.error.code === ErrorCode.MODEL_SIGNATURE, JSON.stringify(change).slice(0, 60));
  }
  const flipped = Buffer.from(m.signature, 'base64');
  flipped[0] = (flipped[0] as number) ^ 1;
  const r = verifyManifest({ ...m, signature: flipped.toString('base64') }, KEY.publicKeyPem);
  assert.ok(!r.ok && r.error.code === ErrorCode.MODEL_SIGNATURE);
});

test('the rollback field is signed: stripping it, or changing from or reason, breaks the signature', () => {
  const m = signManifest({ ...unsigned(), rollback: { from: 's-1-0003', reason: 'worse than s-1-0002' } }, KEY.privateKeyPem, KEY.keyId);
  assert.ok(ModelManifestSchema.safeParse(m).success);
  assert.ok(verifyManifest(m, KEY.publicKeyPem).ok);
  const { rollback: _r, ...stripped } = m;
  for (const bad of [stripped, { ...m, rollback: { from: 's-1-0004', reason: 'worse than s-1-0002' } }, { ...m, rollback: { from: 's-1-0003', reason: 'other' } }]) {
    const r = verifyManifest(bad, KEY.publicKeyPem);
    assert.ok(!r.ok && r.error.code === ErrorCode.MODEL_SIGNATURE);
  }
});

test('a manifest from another key, or claiming another keyId, is refused', () => {
  const m = signManifest(unsigned(), KEY.privateKeyPem, KEY.keyId);
  const wrongKey = verifyManifest(m, OTHER.publicKeyPem);
  assert.ok(!wrongKey.ok && wrongKey.error.code === ErrorCode.MODEL_SIGNATURE);
  // Same keyId claimed, other key's signature.
  const forged = { ...signManifest(unsigned(), OTHER.privateKeyPem, OTHER.keyId), keyId: KEY.keyId };
  const f = verifyManifest(forged, KEY.publicKeyPem);
  assert.ok(!f.ok && f.error.code === ErrorCode.MODEL_SIGNATURE);
  // Rotation: several trusted keys, the keyId picks one.
  assert.ok(verifyManifest(m, [OTHER.publicKeyPem, KEY.publicKeyPem]).ok);
  assert.ok(!verifyManifest(m, []).ok);
  // A placeholder signature of the right shape.
  assert.ok(!verifyManifest({ ...makeManifest(), keyId: KEY.keyId }, KEY.publicKeyPem).ok);
});

test('signing refuses a keyId that is not the key’s and keys that are not Ed25519; bad trusted keys throw', () => {
  const isConfig = (e: unknown): boolean => isSitekdError(e, ErrorCode.CONFIG_INVALID);
  assert.throws(() => signManifest(unsigned(), KEY.privateKeyPem, OTHER.keyId), isConfig);
  assert.throws(() => signManifest(unsigned(), 'not a pem', KEY.keyId), isConfig);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const rsaPem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => signManifest(unsigned(), rsaPem, KEY.keyId), isConfig);
  const m = signManifest(unsigned(), KEY.privateKeyPem, KEY.keyId);
  assert.throws(() => verifyManifest(m, 'garbage'), isConfig);
});

test('signManifest ignores keyId and signature fields left in its input', () => {
  const m1 = signManifest(unsigned(), KEY.privateKeyPem, KEY.keyId);
  const m2 = signManifest({ ...unsigned(), keyId: 'ffffffffffffffff', signature: 'x' } as UnsignedManifest, KEY.privateKeyPem, KEY.keyId);
  assert.deepEqual(m2, m1); // Ed25519 is deterministic
});

test('canonicalJson sorts keys at every depth and drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  assert.equal(canonicalJson([undefined, null]), '[null,null]');
  assert.equal(canonicalJson(Object.assign(Object.create(null) as object, { b: 1, a: 2 })), '{"a":2,"b":1}');
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, new Uint8Array(1), new Date(0), 1n]) {
    assert.throws(() => canonicalJson({ x: bad }), (e: unknown) => isSitekdError(e, ErrorCode.MSG_SCHEMA));
  }
});

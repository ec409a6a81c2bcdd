/**
 * Ed25519 signatures on model manifests (node:crypto only).
 *
 * What is signed: the UTF-8 bytes of `sitekd-manifest-v1\n` followed by the canonical JSON of the manifest without
 * `signature` (`keyId` included). The prefix keeps a manifest signature from ever being valid for another kind of
 * document signed with the same key. Canonical JSON = JSON with object keys sorted (by UTF-16 code unit, which is
 * byte order for the ASCII keys used here) at every depth, no whitespace, `undefined` members left out, numbers as
 * `JSON.stringify` writes them. Signing the canonical form rather than the msgpack bytes lets a manifest be re-encoded
 * (msgpack ⇄ JSON, any key order) without breaking its signature. The manifest carries the model's sha256, so the
 * signature covers the model bytes too.
 *
 * keyId = the first 16 hex digits of sha256(raw 32-byte public key): it names the key, so an agent that trusts
 * several keys (rotation) knows which one to try, and a manifest signed by an unknown key fails fast.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ErrorCode, SitekdError } from '../errors';
import type { ModelManifest } from './messages';
import { fail, ok, type Result } from './result';

export const SIGNING_CONTEXT = 'sitekd-manifest-v1\n';

export interface SigningKey {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  readonly keyId: string;
}

/** The manifest before signing: everything but `keyId` and `signature`. */
export type UnsignedManifest = Omit<ModelManifest, 'keyId' | 'signature'>;

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** keyId of a public key (PEM or KeyObject); a private key gives the keyId of its public half. */
export function keyIdOf(key: string | KeyObject): string {
  const pub = typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
  const jwk = pub.export({ format: 'jwk' });
  if (pub.asymmetricKeyType !== 'ed25519' || typeof jwk.x !== 'string') {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `expected an Ed25519 key, got ${pub.asymmetricKeyType ?? 'unknown'}`);
  }
  return createHash('sha256').update(Buffer.from(jwk.x, 'base64url')).digest('hex').slice(0, 16);
}

/** Deterministic JSON: sorted keys at every depth, no `undefined` members. Throws on values JSON cannot carry. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SitekdError(ErrorCode.MSG_SCHEMA, `cannot sign a non-finite number (${value})`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const proto: unknown = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (typeof value === 'object' && (proto === Object.prototype || proto === null)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new SitekdError(ErrorCode.MSG_SCHEMA, `cannot sign a value of type ${typeof value}`);
}

function signedBytes(manifest: Omit<ModelManifest, 'signature'>): Buffer {
  const { signature: _drop, ...rest } = manifest as Omit<ModelManifest, 'signature'> & { signature?: unknown };
  return Buffer.from(SIGNING_CONTEXT + canonicalJson(rest), 'utf8');
}

/** The manifest with `keyId` and its signature. Throws CONFIG_INVALID for a key that is not Ed25519 or not `keyId`'s. */
export function signManifest(unsigned: UnsignedManifest, privateKeyPem: string, keyId: string): ModelManifest {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, 'the signing key is not a readable private key PEM', { cause });
  }
  if (keyIdOf(key) !== keyId) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `keyId ${keyId} does not belong to the signing key (${keyIdOf(key)})`);
  }
  const { keyId: _k, signature: _s, ...fields } = unsigned as UnsignedManifest & { keyId?: unknown; signature?: unknown };
  const withKey = { ...fields, keyId };
  const signature = sign(null, signedBytes(withKey), key).toString('base64');
  return { ...withKey, signature };
}

/**
 * The manifest if one of the trusted public keys signed it, else MODEL_SIGNATURE. Never throws for a bad manifest;
 * a trusted key that cannot be read is a setup mistake and throws CONFIG_INVALID.
 */
export function verifyManifest(manifest: ModelManifest, publicKeyPem: string | readonly string[]): Result<ModelManifest> {
  const pems = typeof publicKeyPem === 'string' ? [publicKeyPem] : publicKeyPem;
  const trusted = pems.map((pem) => {
    try {
      const key = createPublicKey(pem);
      return { key, keyId: keyIdOf(key) };
    } catch (cause) {
      throw cause instanceof SitekdError ? cause : new SitekdError(ErrorCode.CONFIG_INVALID, 'a trusted key is not a readable public key PEM', { cause });
    }
  });
  const match = trusted.find((t) => t.keyId === manifest.keyId);
  if (match === undefined) {
    return fail(
      new SitekdError(ErrorCode.MODEL_SIGNATURE, `manifest is signed by key ${String(manifest.keyId)}, which is not trusted`, {
        details: { keyId: manifest.keyId, trusted: trusted.map((t) => t.keyId) },
      }),
    );
  }
  let valid = false;
  try {
    const sig = Buffer.from(manifest.signature, 'base64');
    valid = sig.length === 64 && verify(null, signedBytes(manifest), match.key, sig);
  } catch (cause) {
    return fail(new SitekdError(ErrorCode.MODEL_SIGNATURE, 'manifest signature cannot be checked', { cause, details: { keyId: manifest.keyId } }));
  }
  if (!valid) {
    return fail(new SitekdError(ErrorCode.MODEL_SIGNATURE, 'manifest signature does not verify', { details: { keyId: manifest.keyId, version: manifest.version } }));
  }
  return ok(manifest);
}

/**
 * The hub's Ed25519 signing key (manifests, shared/protocol/signing.ts). Generated at first start under
 * `<state>/keys/`: the private key `hub-ed25519.key.pem` (mode 0600, directory 0700) never leaves the hub; the
 * public key `hub-ed25519.pub.pem` is what agents pin. Later starts load the private key and rewrite the public
 * file if it is missing or does not belong to it.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { generateSigningKey, keyIdOf, type SigningKey } from '../../shared/protocol/signing';
import { writeFileAtomic } from '../store/atomic-file';

export const PRIVATE_KEY_FILE = 'hub-ed25519.key.pem';
export const PUBLIC_KEY_FILE = 'hub-ed25519.pub.pem';

export interface HubKey extends SigningKey {
  readonly publicKeyFile: string;
  /** True when this start generated the key. */
  readonly created: boolean;
}

export function keysDir(stateDir: string): string {
  return join(stateDir, 'keys');
}

/** Loads or creates the signing key. Throws CONFIG_INVALID for an unreadable or non-Ed25519 key file. */
export async function loadOrCreateKey(stateDir: string): Promise<HubKey> {
  const dir = keysDir(stateDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700).catch(() => undefined); // an existing directory keeps its mode otherwise
  const privFile = join(dir, PRIVATE_KEY_FILE);
  const pubFile = join(dir, PUBLIC_KEY_FILE);
  const existing = await fs.readFile(privFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read the signing key ${privFile}`, { cause: err });
  });
  let key: SigningKey;
  let created = false;
  if (existing === undefined) {
    key = generateSigningKey();
    await writePrivateKey(privFile, key.privateKeyPem);
    created = true;
  } else {
    key = fromPrivatePem(existing, privFile);
    const mode = (await fs.stat(privFile)).mode & 0o777;
    if ((mode & 0o077) !== 0) await fs.chmod(privFile, 0o600); // tighten a key someone copied in with loose rights
  }
  const pubOnDisk = await fs.readFile(pubFile, 'utf8').catch(() => undefined);
  if (pubOnDisk === undefined || safeKeyId(pubOnDisk) !== key.keyId) await writeFileAtomic(pubFile, key.publicKeyPem);
  await fs.chmod(pubFile, 0o644).catch(() => undefined);
  return { ...key, publicKeyFile: pubFile, created };
}

/** Created with mode 0600 from the first byte (a temporary file, fsync, rename), so no reader ever sees it wider. */
async function writePrivateKey(file: string, pem: string): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    await fs.rm(tmp, { force: true });
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(pem);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (cause) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SitekdError(ErrorCode.STORE_WRITE, `cannot write the signing key ${file}`, { cause, details: { path: file } });
  }
}

function fromPrivatePem(pem: string, file: string): SigningKey {
  try {
    const priv = createPrivateKey(pem);
    if (priv.asymmetricKeyType !== 'ed25519') throw new Error(`key type is ${priv.asymmetricKeyType ?? 'unknown'}`);
    const pub = createPublicKey(priv);
    return { privateKeyPem: pem, publicKeyPem: pub.export({ format: 'pem', type: 'spki' }).toString(), keyId: keyIdOf(pub) };
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `${file} is not an Ed25519 private key PEM: ${(cause as Error).message}`, { cause });
  }
}

function safeKeyId(pem: string): string | undefined {
  try {
    return keyIdOf(pem);
  } catch {
    return undefined;
  }
}

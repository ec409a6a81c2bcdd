/**
 * The hub's own identity on its embedded broker, made at first start: user = the hub's client id (`sitekd-hub`), role
 * hub, a generated password kept in `<state dir>/keys/hub-mqtt-password` (mode 0600, beside the signing key: both are
 * the hub's secrets) and its hashes in the credentials store, so `sitekd credentials export` also gives Mosquitto the
 * hub's line. A store whose hub entry no longer matches the password file (edited, restored from a backup) is put right.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { writeFileAtomic } from '../../shared/fs/atomic-file';
import { credentialsPath, readCredentials } from './credentials-file';
import { addCredential } from './credentials';
import { generatePassword, verifyPassword } from './passwords';

export const hubPasswordFile = (stateDir: string): string => join(stateDir, 'keys', 'hub-mqtt-password');

export interface HubIdentity {
  readonly user: string;
  readonly password: string;
  readonly created: boolean;
}

export async function ensureHubIdentity(stateDir: string, user: string, now: number): Promise<HubIdentity> {
  const file = hubPasswordFile(stateDir);
  let password = readSecret(file);
  const fresh = password === undefined;
  if (password === undefined) {
    password = generatePassword();
    fs.mkdirSync(join(stateDir, 'keys'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `${password}\n`, { mode: 0o600 }).catch((err: unknown) => {
      throw new SitekdError(ErrorCode.STORE_WRITE, `cannot write ${file}`, { cause: err, details: { file } });
    });
  }
  const entry = readCredentials(credentialsPath(stateDir)).users.find((u) => u.user === user);
  const matches = entry !== undefined && entry.role === 'hub' && (await verifyPassword(password, entry.password));
  if (!matches) await addCredential(stateDir, { user, role: 'hub', password, replace: true }, now);
  return { user, password, created: fresh || !matches };
}

function readSecret(file: string): string | undefined {
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    return s === '' ? undefined : s;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, `cannot read ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
}

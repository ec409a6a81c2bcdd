/**
 * Operations on the credentials store (hub/auth/credentials-file.ts) shared by `sitekd credentials` and the hub:
 * add (or replace) an identity, remove one, list them, and the Mosquitto files for the same policy.
 */
import { ErrorCode, SitekdError } from '../../shared/errors';
import { credentialsPath, readCredentials, updateCredentials, UserRecordSchema, type UserRecord } from './credentials-file';
import { generatePassword, hashPassword, mosquittoHash } from './passwords';
import { mosquittoAcl, type Identity, type Role } from './policy';

export interface AddRequest {
  readonly user: string;
  readonly role: Role;
  readonly site?: string | undefined;
  readonly topics?: readonly string[];
  readonly read?: readonly string[];
  /** Generated when absent. */
  readonly password?: string | undefined;
  /** Replace an identity of the same name instead of refusing. */
  readonly replace?: boolean;
}

export interface AddResult {
  readonly record: UserRecord;
  readonly password: string;
  readonly generated: boolean;
  readonly replaced: boolean;
}

/** Checks the request as the file will (CREDENTIALS_INVALID naming each problem), then writes it. */
export async function addCredential(stateDir: string, req: AddRequest, now: number): Promise<AddResult> {
  const generated = req.password === undefined;
  const password = req.password ?? generatePassword();
  if (password.length < 8 || password.length > 1024) throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, 'a password must be 8-1024 characters');
  const parsed = UserRecordSchema.safeParse({
    user: req.user, role: req.role, ...(req.site !== undefined ? { site: req.site } : {}), topics: [...(req.topics ?? [])], read: [...(req.read ?? [])],
    password: hashPassword(password), mosquitto: mosquittoHash(password), createdAt: now,
  });
  if (!parsed.success) {
    throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, parsed.error.issues.map((i) => (i.path.length > 0 ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; '), {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
    });
  }
  const record = parsed.data;
  const replaced = await updateCredentials(credentialsPath(stateDir), (cur) => {
    const existing = cur.users.find((u) => u.user === record.user);
    if (existing !== undefined && req.replace !== true) {
      throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, `user ${record.user} exists (role ${existing.role}); remove it first or pass --replace`, { details: { user: record.user } });
    }
    return { next: { ...cur, users: [...cur.users.filter((u) => u.user !== record.user), record] }, result: existing !== undefined };
  });
  return { record, password, generated, replaced };
}

/** True when the user existed. */
export function removeCredential(stateDir: string, user: string): Promise<boolean> {
  return updateCredentials(credentialsPath(stateDir), (cur) => {
    const users = cur.users.filter((u) => u.user !== user);
    return users.length === cur.users.length ? { result: false } : { next: { ...cur, users }, result: true };
  });
}

export function listCredentials(stateDir: string): UserRecord[] {
  return readCredentials(credentialsPath(stateDir)).users;
}

export function identityOf(u: UserRecord): Identity {
  return { user: u.user, role: u.role, site: u.site, topics: u.topics, read: u.read };
}

/**
 * Mosquitto's `password_file` (user:hash lines) and `acl_file` for every identity. Identities stored without a
 * Mosquitto hash (none today) are left out of the password file and listed in `missing`.
 */
export function mosquittoFiles(stateDir: string): { passwd: string; acl: string; missing: string[] } {
  const users = listCredentials(stateDir);
  const withHash = users.filter((u) => u.mosquitto !== undefined);
  return {
    passwd: withHash.map((u) => `${u.user}:${u.mosquitto}\n`).join(''),
    acl: mosquittoAcl(users.map(identityOf)),
    missing: users.filter((u) => u.mosquitto === undefined).map((u) => u.user),
  };
}

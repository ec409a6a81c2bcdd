/**
 * The hub's credentials + ACL store: `<state dir>/credentials.json`, one zod-validated file (mode 0600: it holds
 * password hashes) that `sitekd credentials` edits and the embedded broker reads. Writes are atomic (temporary file,
 * fsync, rename) and serialised between processes by an exclusive lock file, so a `credentials add` while the hub
 * writes its own identity loses neither.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { writeFileAtomic } from '../../shared/fs/atomic-file';
import { isValidAgentId, isValidId, isValidSiteId, ROOT_TOPIC } from '../../shared/protocol/topics';
import { MOSQUITTO_HASH, ScryptHashSchema } from './passwords';
import { ROLES } from './policy';

export const CREDENTIALS_FILE = 'credentials.json';
export const credentialsPath = (stateDir: string): string => join(stateDir, CREDENTIALS_FILE);

/** At most this many identities (one per agent, sensor, operator): bounds the file and every lookup. */
export const MAX_USERS = 100_000;

/** An ACL filter: valid MQTT filter syntax, no `$` topics, bounded. */
const Filter = z
  .string()
  .min(1)
  .max(256)
  .refine((f) => !f.startsWith('$') && !/\u0000/.test(f) && f.split('/').every((l, i, all) => (l !== '#' || i === all.length - 1) && (l.length <= 1 || !/[+#]/.test(l))), 'must be an MQTT topic filter (+ and # only as whole levels, # last), not a $ topic');

/** Sensor and agent `--topic`s are sensor feeds: never inside the sitekd tree, where they would widen an agent's or a sensor's reach. */
const SensorFilter = Filter.refine((f) => f.split('/')[0] !== ROOT_TOPIC.split('/')[0] && !f.startsWith('#') && !f.startsWith('+'), `must name sensor topics outside ${ROOT_TOPIC.split('/')[0]}/ and not start with a wildcard`);

export const UserRecordSchema = z
  .strictObject({
    user: z.string().refine(isValidId, 'must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit'),
    role: z.enum(ROLES),
    site: z.string().refine(isValidSiteId, 'must be a site id').optional(),
    topics: z.array(SensorFilter).max(64).default([]),
    read: z.array(Filter).max(64).default([]),
    password: ScryptHashSchema,
    /** The same password as a Mosquitto `password_file` hash. */
    mosquitto: z.string().regex(MOSQUITTO_HASH).optional(),
    createdAt: z.number().int().min(0),
  })
  .superRefine((u, ctx) => {
    const issue = (message: string): void => ctx.addIssue({ code: 'custom', message: `${u.user}: ${message}` });
    if (u.role === 'agent' && u.site === undefined) issue('an agent needs a site');
    if (u.role === 'agent' && !isValidAgentId(u.user)) issue('an agent user is its agent id, and "model" is reserved');
    if (u.role !== 'agent' && u.site !== undefined) issue('only agents have a site');
    if (u.role === 'sensor' && u.topics.length === 0) issue('a sensor needs at least one topic');
    if ((u.role === 'hub' || u.role === 'operator') && u.topics.length > 0) issue(`a ${u.role} has no sensor topics`);
  });
export type UserRecord = z.output<typeof UserRecordSchema>;

export const CredentialsFileSchema = z
  .strictObject({ version: z.literal(1), users: z.array(UserRecordSchema).max(MAX_USERS) })
  .refine((f) => new Set(f.users.map((u) => u.user)).size === f.users.length, 'a user name appears twice');
export type CredentialsFile = z.output<typeof CredentialsFileSchema>;

export const EMPTY: CredentialsFile = { version: 1, users: [] };

/** The file's content, or EMPTY when it does not exist. A file that exists but does not parse is CREDENTIALS_INVALID. */
export function readCredentials(file: string): CredentialsFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, `cannot read ${file}: ${(err as Error).message}`, { cause: err, details: { file } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, `${file} is not JSON`, { cause: err, details: { file } });
  }
  const r = CredentialsFileSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    throw new SitekdError(ErrorCode.CREDENTIALS_INVALID, `${file}: ${issues.map((i) => `${i.path} ${i.message}`.trim()).join('; ')}`, { details: { file, issues } });
  }
  return r.data;
}

/**
 * Read-modify-write under `<file>.lock` (O_EXCL). A lock older than `staleMs` is a crashed writer's and is broken.
 * `change` returns the new content, or undefined to leave the file as it is.
 */
export async function updateCredentials<T>(file: string, change: (cur: CredentialsFile) => { next?: CredentialsFile; result: T }, staleMs = 30_000): Promise<T> {
  const lock = `${file}.lock`;
  fs.mkdirSync(dirname(file), { recursive: true });
  const fd = await acquire(lock, staleMs);
  try {
    const { next, result } = change(readCredentials(file));
    if (next !== undefined) {
      const checked = CredentialsFileSchema.parse(next);
      await writeFileAtomic(file, `${JSON.stringify(checked, null, 1)}\n`, { mode: 0o600 }).catch((err: unknown) => {
        throw new SitekdError(ErrorCode.STORE_WRITE, `cannot write ${file}`, { cause: err, details: { file } });
      });
    }
    return result;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(lock, { force: true });
  }
}

async function acquire(lock: string, staleMs: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return fs.openSync(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SitekdError(ErrorCode.STORE_WRITE, `cannot lock ${lock}: ${(err as Error).message}`, { cause: err, details: { file: lock } });
      }
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > staleMs) fs.rmSync(lock, { force: true });
      else if (attempt > 200) throw new SitekdError(ErrorCode.STORE_WRITE, `${lock} is held by another process`, { details: { file: lock } });
      else await new Promise((r) => setTimeout(r, 25));
    }
  }
}

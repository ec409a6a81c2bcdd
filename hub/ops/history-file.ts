/**
 * The dashboard history (hub/ops/site-history.ts) in the hub's state dir, best-effort: written atomically but without
 * fsync (losing the last minutes to a power cut is fine, a torn file is not), at most every `persistEveryMs` and
 * when the hub stops; read once at start. A file that is not JSON or not the schema is SITEKD_ERR_HISTORY_CORRUPT:
 * moved aside as `<file>.bad` and the history starts empty (it is a convenience, never a reason not to start).
 */
import * as fs from 'node:fs/promises';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { isNotFound, quarantineFile, writeFileAtomic } from '../../shared/fs/atomic-file';
import { HistoryFileSchema, type HistoryFile } from './site-history';

export const HISTORY_FILE = 'ops-history.json';

/** Files above this are refused unread (1440 points × 1000 sites stays far below). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** The file's content; undefined when there is none; SITEKD_ERR_HISTORY_CORRUPT when it cannot be used. */
export async function readHistoryFile(path: string): Promise<HistoryFile | undefined> {
  let text: string;
  try {
    const st = await fs.stat(path);
    if (st.size > MAX_FILE_BYTES) throw new SitekdError(ErrorCode.HISTORY_CORRUPT, `${path}: ${st.size} bytes, more than ${MAX_FILE_BYTES}`);
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SitekdError(ErrorCode.HISTORY_CORRUPT, `${path}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const r = HistoryFileSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SitekdError(ErrorCode.HISTORY_CORRUPT, `${path}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** Reads the file; a corrupt one is moved aside and reported through `onProblem`, and undefined returned. */
export async function loadHistoryFile(path: string, onProblem: (err: SitekdError) => void): Promise<HistoryFile | undefined> {
  try {
    return await readHistoryFile(path);
  } catch (err) {
    if (!(err instanceof SitekdError)) throw err;
    onProblem(err);
    await quarantineFile(path);
    return undefined;
  }
}

export async function writeHistoryFile(path: string, file: HistoryFile): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(file), { durable: false });
}

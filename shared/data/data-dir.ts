/**
 * Where a dataset is: the data root (`<repo>/../shared/data` by default) or a dataset directory inside it, found by
 * the manifest it holds. Every reader resolves its `dir` argument here, so `--data` accepts either form.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, SitekdError } from '../errors';
import { findRepoRoot } from '../fs/repo-root';

export const MANIFEST_FILE = 'manifest.json';
export const DEFAULT_DATASET = 'HAR';

/** `<repo>/../shared/data`: where the shared real data sits next to the repo checkout. */
export function defaultDataRoot(): string {
  const root = findRepoRoot() ?? process.cwd();
  return path.resolve(root, '..', 'shared', 'data');
}

/**
 * Accepts either a dataset directory (holding manifest.json) or a data root with `<dataset>/`
 * inside; default: {@link defaultDataRoot}. Returns the absolute dataset directory.
 */
export function resolveDataDir(arg?: string, dataset: string = DEFAULT_DATASET): string {
  const base = path.resolve(arg ?? defaultDataRoot());
  const candidates = [base, path.join(base, dataset)];
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, MANIFEST_FILE))) return dir;
  }
  throw new SitekdError(
    ErrorCode.DATA_NOT_FOUND,
    `no ${MANIFEST_FILE} in ${candidates.join(' or ')} (pass a dataset directory or a data root containing ${dataset}/)`,
    { details: { tried: candidates } },
  );
}

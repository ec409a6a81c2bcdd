import * as path from 'node:path';
import { findRepoRoot } from '../../shared/fs/repo-root';

/** The repository root (the directory holding package.json) above a compiled test file. */
export function repoRoot(start: string): string {
  const root = findRepoRoot(start);
  if (root === undefined) throw new Error(`no package.json above ${path.resolve(start)}`);
  return root;
}

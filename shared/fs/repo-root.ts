/**
 * Finds the repository checkout a compiled file runs from, so that tools locate what sits in or next to the checkout
 * (docs/ for tests, the shared data in `../shared/data`) whichever directory they were started in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Walks up from `start` to the first directory holding a package.json (the repo root), if any. */
export function findRepoRoot(start: string = __dirname): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * sitekd's version, from the package.json above the running file (dist/shared/version.js → ../../package.json).
 * `sitekd --version` prints it, the hub reports it in hub/status and the agent in its birth message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

export function sitekdVersion(): string {
  cached ??= findVersion(__dirname);
  return cached;
}

function findVersion(start: string): string {
  let dir = start;
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      // The name check skips a package.json of something else that happens to sit above an installed copy.
      if (pkg.name === 'sitekd' && typeof pkg.version === 'string' && pkg.version.length > 0) return pkg.version.slice(0, 64);
    } catch {
      // not here; look one level up
    }
    dir = path.dirname(dir);
  }
  return '0.0.0';
}

/** `sitekd import-uci`: convert the original UCI HAR archive into per-subject domains (the ../shared/data layout). */
import { defineCommand } from '../shared/cli/command';
import { importUciHar } from '../shared/data/uci-import';
import { importUciSpec } from './specs';

export const importUciCommand = defineCommand(importUciSpec, async (a, { io, log }) => {
  const s = importUciHar(a.archive, a.out);
  log.debug('imported', { dir: s.dir, domains: s.domains.length, windows: s.totalWindows });
  io.stdout.write(a.json ? `${JSON.stringify(s)}\n` : `imported ${s.totalWindows} windows as ${s.domains.length} domains into ${s.dir}\n`);
  return 0;
});

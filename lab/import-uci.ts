/** `sitekd import-uci`: convert the original UCI HAR archive into per-subject domains (the ../shared/data layout). */
import { z } from 'zod';
import { parseCommandArgs, type OptionTable } from '../shared/cli/args';
import { importUciHar } from '../shared/data/uci-import';
import type { Command } from '../shared/cli/common';

const table = {
  archive: { type: 'string', description: "the 'UCI HAR Dataset' folder (or its parent)", placeholder: 'dir' },
  out: { type: 'string', description: 'output dataset directory (manifest.json + .f32 + .labels.u8)', placeholder: 'dir' },
  json: { type: 'boolean', description: 'print one JSON object' },
} as const satisfies OptionTable;

const schema = z.object({ archive: z.string().min(1), out: z.string().min(1), json: z.boolean().default(false) });

export const importUciCommand: Command = {
  summary: 'import the original UCI HAR archive as one domain per subject',
  usage: { table, schema },
  async run(argv, io) {
    const a = parseCommandArgs('import-uci', argv, table, schema);
    const s = importUciHar(a.archive, a.out);
    io.stdout.write(a.json ? `${JSON.stringify(s)}\n` : `imported ${s.totalWindows} windows as ${s.domains.length} domains into ${s.dir}\n`);
    return 0;
  },
};

/**
 * What the hub is doing at first start, read from its log (JSON lines, pino): while it trains the teacher and the
 * generic student no agent has a model, so the table would only say "waiting"; this line says why and how far.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const TAIL_BYTES = 8192;

/** "training the teacher: epoch 3/10", … or undefined once the hub runs (or before it logs anything). */
export function hubProgress(logFile: string): string | undefined {
  let text: string;
  try {
    const size = statSync(logFile).size;
    const fd = openSync(logFile, 'r');
    try {
      const buf = Buffer.alloc(Math.min(TAIL_BYTES, size));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      text = buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').reverse()) {
    let m: { msg?: unknown; epoch?: unknown; epochs?: unknown; voter?: unknown };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      continue;
    }
    if (m.msg === 'hub running') return undefined;
    const at = typeof m.epoch === 'number' && typeof m.epochs === 'number' ? `: epoch ${m.epoch}/${m.epochs}` : '';
    // Turn voters (hub config turnVoters) are made after the hub runs; rounds wait for them.
    if (typeof m.voter === 'number') {
      if (m.msg === 'teacher epoch' || m.msg === 'training the teacher from the source domain') return `hub: training turn voter ${m.voter}'s teacher${at} (rounds wait for the voters)`;
      if (m.msg === 'generic student epoch' || m.msg === 'distilling the generic student') return `hub: distilling turn voter ${m.voter}'s student${at} (rounds wait for the voters)`;
      return undefined;
    }
    if (m.msg === 'teacher epoch') return `hub: training the teacher${at}`;
    if (m.msg === 'generic student epoch') return `hub: distilling the generic student${at}`;
    if (m.msg === 'training the teacher from the source domain') return 'hub: training the teacher';
    if (m.msg === 'distilling the generic student') return 'hub: distilling the generic student';
  }
  return undefined;
}

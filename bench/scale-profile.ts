/**
 * `node dist/bench/scale-profile.js FILE.cpuprofile [--top N]`: the functions with the most self time in a V8 CPU
 * profile (what `npm run bench:scale -- --hub-cpu-prof DIR` writes for the hub), and the self time summed by source
 * file, so a profile of the hub under load says where its main thread goes without a browser.
 */
import { readFileSync } from 'node:fs';
import { benchArgs } from './timing';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const { values: o, positionals } = benchArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
const file = positionals[0];
if (file === undefined) throw new Error('usage: scale-profile FILE.cpuprofile [--top N]');
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

function shortUrl(url: string): string {
  const m = /(node_modules\/[^/]+(?:\/[^/]+)?)|(dist\/.*)$/.exec(url);
  return m?.[0] ?? (url === '' ? '(native)' : url.replace(/^.*\//, ''));
}
function add(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}
const fns = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of selfUs) {
  const f = byId.get(id)?.callFrame;
  if (f === undefined) continue;
  const where = shortUrl(f.url);
  add(fns, `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`, us);
  add(files, /^node_modules\/[^/]+/.exec(where)?.[0] ?? where, us);
}
const top = Number(o.top);
const show = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title} (of ${(total / 1e6).toFixed(1)} s sampled)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}\n`);
  }
};
show('self time by function', fns);
show('self time by file', files);

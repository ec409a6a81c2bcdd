/**
 * `npm run bench:rounds-parallel`: do two rounds of different sites at once (hub `roundConcurrency` ≥ 2, each round in
 * its own worker thread) take as long as each alone? The hub's real round function (hub/jobs/round.ts `runRound`) on
 * real HAR sites, each fed 300 uniformly sampled windows of its train split through the hub's inbound handler; each
 * round runs alone, then both together, in one process run, so the ratio is measured under the same load.
 * Options: --data DIR, --source IDS, --sites A,B, --windows N, --round-recipe site-adapt|unikd, --repeats R.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDomain, loadManifest, resolveDataDir } from '../shared/data/har';
import { createLogger } from '../shared/log';
import { encode, f32ToBytes } from '../shared/protocol/codec';
import type { SampleBatch } from '../shared/protocol/messages';
import { runRound } from '../hub/jobs/round';
import { channelsFirstToLast } from '../hub/store/windows';
import { runMlTask } from '../hub/worker/ml-runner';
import type { RoundRecipe } from '../hub/worker/ml-worker-protocol';
import { SiteIntake, startAdaptHub, type AdaptHub } from '../lab/adapt-hub';
import { loadNote, runBench } from './timing';

async function feed(intake: SiteIntake, domainId: string, dataDir: string, windows: number): Promise<void> {
  const d = loadDomain(loadManifest(dataDir), domainId).train;
  const n = Math.min(windows, d.n);
  const per = d.channels * d.length;
  for (let from = 0, b = 0; from < n; from += 16, b++) {
    const k = Math.min(16, n - from);
    const batch: SampleBatch = {
      batchId: `bench-${domainId}-${String(b).padStart(6, '0')}`, site: intake.site, agent: 'gw-1', modelVersion: '1-00000000',
      channels: d.channels, windowLength: d.length, numClasses: 6, n: k,
      windows: f32ToBytes(channelsFirstToLast(d.x.subarray(from * per, (from + k) * per), k, d.channels, d.length)),
      logits: f32ToBytes(new Float32Array(k * 6)), windowStarts: Array.from({ length: k }, (_, i) => 1_700_000_000_000 + (from + i) * 2560),
      selectedBy: new Array<0>(k).fill(0), createdAt: 1_700_000_000_000,
    };
    await intake.deliver('gw-1', encode(batch), batch.batchId);
  }
}

async function timedRound(hub: AdaptHub, intake: SiteIntake, id: string): Promise<number> {
  const t0 = performance.now();
  // A HAR subject's train split has ~220 windows: half are held out, so the hub's minimum of 128 to adapt to is lowered.
  const out = await runRound(
    { store: intake.store, source: hub.source.train, input: hub.input, run: hub.run, settings: { ...hub.settings, minTrainWindows: 32 }, now: () => Date.now() },
    { site: intake.site, jobId: id, teacher: hub.bundle, current: async () => ({ version: '1-00000000', bytes: hub.bundle.generic.bytes }), report: () => undefined, signal: new AbortController().signal },
  );
  if (out.kind !== 'decided') throw new Error(`round ${id} was skipped: ${out.reason}`);
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: {
    data: { type: 'string' }, source: { type: 'string', default: '2,7,12,9,6' }, sites: { type: 'string', default: '11,13' },
    windows: { type: 'string', default: '300' }, 'round-recipe': { type: 'string', default: 'unikd' }, repeats: { type: 'string', default: '2' },
  } });
  const data = resolveDataDir(v.data);
  const log = createLogger({ stream: process.stderr, level: 'warn' });
  const dir = mkdtempSync(join(tmpdir(), 'sitekd-rounds-'));
  try {
    const hub = await startAdaptHub({ data, source: v.source, seed: 0, stateDir: join(dir, 'hub'), run: runMlTask, log, roundRecipe: v['round-recipe'] as RoundRecipe });
    const [a, b] = v.sites.split(',') as [string, string];
    const intakes = await Promise.all([a, b].map(async (id) => SiteIntake.open(join(dir, id), `site-${id}`, hub.input, log)));
    for (const [i, id] of [a, b].entries()) await feed(intakes[i] as SiteIntake, id, data, Number(v.windows));
    const load = loadNote();
    const rows: string[] = [];
    for (let r = 0; r < Number(v.repeats); r++) {
      const alone = [await timedRound(hub, intakes[0] as SiteIntake, `a${r}`), await timedRound(hub, intakes[1] as SiteIntake, `b${r}`)];
      const both = await Promise.all([timedRound(hub, intakes[0] as SiteIntake, `ta${r}`), timedRound(hub, intakes[1] as SiteIntake, `tb${r}`)]);
      rows.push(`| ${r + 1} | ${alone.map((s) => s.toFixed(2)).join(' / ')} | ${both.map((s) => s.toFixed(2)).join(' / ')} | ${both.map((s, i) => (s / (alone[i] as number)).toFixed(2)).join(' / ')} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
    }
    for (const i of intakes) await i.close();
    const cmd = `npm run bench:rounds-parallel -- --sites ${v.sites} --windows ${v.windows} --round-recipe ${v['round-recipe']}`;
    const md = [
      '# Two rounds at once (issue 10)', '', `Command: \`${cmd}\``, '',
      `Run ${new Date().toISOString()}, ${cpus().length} cores, ${load} at start, ${loadNote()} at the end; round recipe ${v['round-recipe']}, ` +
        `${v.windows} windows per site (HAR ${a} and ${b}), each round in its own worker thread (hub/worker/ml-runner.ts).`, '',
      `| repeat | alone: site ${a} / site ${b} (s) | together (s) | together ÷ alone |`, '|---:|---:|---:|---:|', ...rows, '',
    ].join('\n');
    writeFileSync(resolve(__dirname, `../../bench/results/rounds-parallel-${v['round-recipe']}.md`), md);
    process.stdout.write(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);

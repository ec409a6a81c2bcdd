/**
 * `npm run bench:turn-vote`: how well a site's turn (docs/adaptation.md §1.5) is chosen without labels, and whether
 * several independently trained students voting choose better than one. For each hub seed in --models the hub's own
 * start (lab/adapt-hub.ts: its teacher and its generic student) runs once; then for every site, window count and draw,
 * a random subset of the site's train windows (as a round would see) is given to every generic student turned by each
 * angle from −D to +D (the round's step, hub/jobs/round.ts TURN_STEP_DEGREES) and adapted as `adaptTurnDegrees` adapts it (shared/ml/site-adapt.ts, no turn
 * search inside), and each adapted model's information-maximisation loss on those windows and macro-F1 on the site's
 * test split are recorded. Rules compared, each choosing one angle per student: `unturned` (0°, the default), `own`
 * (the student's own loss: what `adaptTurnDegrees` ships), `vote` (the sum of all students' losses: one angle for all),
 * `best` (the test labels: the most a turn could give). Writes bench/results/turn-vote.md.
 * Options: --data DIR, --source IDS, --models 0,1,2,3, --sites IDS, --windows 150,300, --draws 2, --max-degrees 40,
 * --backend wasm, --out FILE.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cnnFromArtifact, decodeCnnArtifact } from '../shared/artifact/cnn-artifact';
import { loadDomain, resolveDataDir } from '../shared/data/har';
import { silentLogger } from '../shared/log';
import { selectBackend, type BackendPreference } from '../shared/ml/backend';
import type { Cnn } from '../shared/ml/cnn';
import { macroF1 } from '../shared/ml/metrics';
import { disposeVars } from '../shared/ml/params';
import { axisGroups, searchAngles, turnedInput, verticalAxis } from '../shared/ml/sensor-frame';
import { adaptToSite, infoMaxLoss, type SiteAdaptSettings } from '../shared/ml/site-adapt';
import { argmaxRows, predictLogits } from '../shared/ml/train';
import type { WindowSet } from '../shared/ml/types';
import { createRng, deriveSeed } from '../shared/random';
import { siteAdaptSettings, TURN_STEP_DEGREES } from '../hub/jobs/round';
import { runMlTask } from '../hub/worker/ml-runner';
import { startAdaptHub } from '../lab/adapt-hub';
import { benchArgs, benchUsage, loadNote, runBench, writeReport } from './timing';

/** One site, window count and draw: per angle, per student, the loss and the test macro-F1 (%). */
interface Case {
  readonly site: string;
  readonly windows: number;
  readonly generic: readonly number[];
  readonly angles: readonly { readonly degrees: number; readonly loss: readonly number[]; readonly f1: readonly number[] }[];
}

const RULES = ['unturned', 'own', 'vote', 'best'] as const;
type Rule = (typeof RULES)[number];

function windowsAt(ws: WindowSet, idx: ArrayLike<number>): WindowSet {
  const per = ws.channels * ws.length;
  const x = new Float32Array(idx.length * per);
  for (let i = 0; i < idx.length; i++) x.set(ws.x.subarray(idx[i]! * per, (idx[i]! + 1) * per), i * per);
  return { n: idx.length, channels: ws.channels, length: ws.length, x };
}

const score = (net: Cnn, ws: WindowSet): number => 100 * macroF1(ws.y!, argmaxRows(predictLogits(net, ws)), net.spec.numClasses);

/** The angle each rule gives student `m` (a tie keeps the smaller turn). */
function chosen(c: Case, rule: Rule, m: number): Case['angles'][number] {
  const key = (a: Case['angles'][number]): number =>
    rule === 'unturned' ? Math.abs(a.degrees) : rule === 'own' ? a.loss[m]! : rule === 'vote' ? a.loss.reduce((s, l) => s + l, 0) : -a.f1[m]!;
  return c.angles.reduce((b, a) => (key(a) < key(b) - 1e-12 || (Math.abs(key(a) - key(b)) <= 1e-12 && Math.abs(a.degrees) < Math.abs(b.degrees)) ? a : b));
}

function table(cases: readonly Case[], models: readonly number[], sites: readonly string[], windows: number): string[] {
  const at = cases.filter((c) => c.windows === windows && sites.includes(c.site));
  const lines = [
    `| rule | ${models.map((s) => `gain, student of seed ${s}`).join(' | ')} | mean | choices > 2 points below 0° |`,
    `|---|${models.map(() => '---:').join('|')}|---:|---:|`,
  ];
  for (const rule of RULES) {
    const gains = models.map((_, m) => at.reduce((s, c) => s + chosen(c, rule, m).f1[m]! - c.generic[m]!, 0) / at.length);
    let worse = 0;
    for (const c of at) {
      const zero = c.angles.find((a) => a.degrees === 0)!;
      models.forEach((_, m) => (worse += chosen(c, rule, m).f1[m]! < zero.f1[m]! - 2 ? 1 : 0));
    }
    const mean = gains.reduce((s, g) => s + g, 0) / gains.length;
    lines.push(`| ${rule} | ${gains.map((g) => `${g >= 0 ? '+' : ''}${g.toFixed(2)}`).join(' | ')} | ${mean >= 0 ? '+' : ''}${mean.toFixed(2)} | ${worse} of ${at.length * models.length} |`);
  }
  return lines;
}

async function main(): Promise<void> {
  const { values: v } = benchArgs({
    options: {
      data: { type: 'string' }, source: { type: 'string', default: '2,7,12,9,6' }, models: { type: 'string', default: '0,1,2,3' },
      sites: { type: 'string', default: '11,13,16,18,23,20,30,10,1,3,5,8' }, windows: { type: 'string', default: '150,300' },
      draws: { type: 'string', default: '2' }, 'max-degrees': { type: 'string', default: '40' }, backend: { type: 'string', default: 'wasm' },
      out: { type: 'string', default: 'bench/results/turn-vote.md' },
    },
  });
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const ints = (s: string, what: string): number[] =>
    list(s).map((x) => (/^\d+$/.test(x) ? Number(x) : benchUsage(`--${what} takes whole numbers, got ${x}`)));
  const models = ints(v.models, 'models');
  const sites = list(v.sites);
  const windowCounts = ints(v.windows, 'windows');
  const [draws] = ints(v.draws, 'draws');
  const [maxDegrees] = ints(v['max-degrees'], 'max-degrees');
  if (windowCounts.some((w) => w < 2) || !(draws! >= 1)) benchUsage('--windows takes counts of at least 2 and --draws at least 1');
  const data = resolveDataDir(v.data);
  // The sites first: an unknown id fails now, not after the hubs have trained.
  const domains = sites.map((id) => loadDomain(data, id));
  const backend = await selectBackend(v.backend as BackendPreference);
  const started = performance.now();
  const startLoad = loadNote();
  const dir = mkdtempSync(join(tmpdir(), 'sitekd-turn-vote-'));
  const students: Cnn[] = [];
  let channelNames: readonly string[] = [];
  let adapt: SiteAdaptSettings | undefined;
  try {
    for (const seed of models) {
      const hub = await startAdaptHub({ data, source: v.source, seed, stateDir: join(dir, `hub-${seed}`), run: runMlTask, log: silentLogger });
      students.push(cnnFromArtifact(decodeCnnArtifact(hub.bundle.generic.bytes)));
      channelNames = hub.input.channelNames ?? [];
      // The round's own adaptation settings (hub config defaults), without its turn search: the bench turns.
      adapt = siteAdaptSettings({ ...hub.settings, adaptTurnDegrees: 0 }, hub.input);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const groups = axisGroups(channelNames);
  if (groups.length === 0) benchUsage(`the data set's channels (${channelNames.join(', ')}) form no x/y/z triple: nothing to turn`);
  const cases: Case[] = [];
  for (const [i, site] of sites.entries()) {
    const d = domains[i]!;
    const axis = verticalAxis(d.train, groups) ?? benchUsage(`site ${site} shows no vertical (no group with a static component)`);
    const generic = students.map((s) => score(s, d.test));
    for (let draw = 0; draw < draws!; draw++) {
      const order = createRng(deriveSeed(draw, Number.parseInt(site, 10) || 0)).permutation(d.train.n);
      for (const windows of windowCounts) {
        const ws = windowsAt(d.train, order.subarray(0, Math.min(windows, d.train.n)));
        const angles = searchAngles({ maxDegrees: maxDegrees!, stepDegrees: TURN_STEP_DEGREES }).sort((a, b) => a - b).map((degrees) => {
          const loss: number[] = [];
          const f1: number[] = [];
          for (const s of students) {
            const turned = turnedInput(s, groups, { axis, degrees });
            const adapted = adaptToSite(turned, ws, adapt!).net;
            loss.push(infoMaxLoss(predictLogits(adapted, ws)));
            f1.push(score(adapted, d.test));
            turned.vars['fe.conv1.w']!.dispose();
            disposeVars(adapted.vars);
          }
          return { degrees, loss, f1 };
        });
        cases.push({ site, windows, generic, angles });
      }
    }
    process.stderr.write(`site ${site} done\n`);
  }
  const five = sites.filter((s) => ['11', '13', '16', '18', '23'].includes(s));
  const lines = [
    '# Choosing a site\'s turn without labels: one student or a vote of several',
    '',
    `Command: \`npm run bench:turn-vote -- --source ${v.source} --models ${v.models} --sites ${v.sites} --windows ${v.windows} --draws ${v.draws} --max-degrees ${v['max-degrees']}\``,
    `Run ${new Date().toISOString()}, Node ${process.version}, backend ${backend.name}; ${startLoad} at start, ${loadNote()} at the end; ${((performance.now() - started) / 1000).toFixed(0)} s.`,
    '',
    `Each student is the generic student of a hub started with that seed (its own teacher). Per site, window count and draw, the windows are a random subset of the site's train split; every student is turned by each angle and adapted to them as a round adapts (the hub's settings: ${adapt!.iterations} clustering round(s), source prior ${adapt!.sourcePrior}). gain = macro-F1 (%) on the site's test split of the student adapted at the rule's angle minus the unadapted generic student, mean over sites and draws; "choices > 2 points below 0°" counts (site, draw, student) whose chosen angle scores more than 2 points below the same student adapted unturned.`,
    '',
  ];
  for (const windows of windowCounts) {
    lines.push(`## ${windows} windows, all ${sites.length} sites`, '', ...table(cases, models, sites, windows), '');
    if (five.length > 0) lines.push(`## ${windows} windows, the issue's sites (${five.join(', ')})`, '', ...table(cases, models, five, windows), '');
  }
  writeReport(resolve(v.out), lines);
}

runBench(main);

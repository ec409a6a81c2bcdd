/**
 * Where the simulator's sensor streams come from: real UCI-HAR subjects when the data set is there, synthetic shifted
 * sites otherwise, each turned into one endless, labelled 50 Hz signal that loops for ever.
 *
 * Orders (`SiteStreamOptions.order`):
 * - `recorded` (the default for HAR): the subject's continuous recordings, rebuilt from its overlapping windows
 *   (sim/recording.ts). UCI-HAR windows are 128 samples cut with 50 % overlap from one continuous recording, and
 *   AdaTime's files hold them shuffled and split into train/test, so the windows are chained on their exact 64-sample
 *   overlaps and the chains played one after another, each raw sample once. Every sample has its own label (that of
 *   the window it is taken from). Jumps remain only where the recording itself broke (activity changes: UCI-HAR kept
 *   no transitions) and at the loop's end. Built from the train + test windows by default (`split: 'both'`), since a
 *   split alone is a scattered 70 % or 30 % of the windows and chains poorly.
 * - `file`, `shuffle`, `grouped`: the windows back to back, `windowLength` readings each (file order, a seeded
 *   permutation per loop, or sorted by label). Every window boundary is then a cut, and a stride-64 agent window
 *   straddles two unrelated windows. Right for data whose windows are independent (the synthetic sites, the default
 *   there) or when no chaining is possible; `recorded` on such data finds no overlaps and plays file order anyway.
 *
 * Reading k of a back-to-back stream is window i = ⌊k / L⌋ mod n (through the order's permutation), time t = k mod L,
 * value `x[(i·C + c)·L + t]` for channel c (channels-first, shared/ml/types.ts); of a recorded stream, sample k mod S of
 * the rebuilt signal. Everything is a pure function of k (and the seed, for the shuffled order), so the scoreboard can
 * ask for the labels of any reading already sent.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { listDomains, loadDomain, loadManifest, loadScenarios, resolveDataDir } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticClassNames, type SyntheticSpec } from '../shared/data/synthetic';
import type { Domain, WindowSet } from '../shared/ml/types';
import { createRng, deriveSeed } from '../shared/random';
import { isValidSiteId } from '../shared/protocol/topics';
import { buildRecording, chainWindows, type Recording } from './recording';

export type SplitChoice = 'test' | 'train' | 'both';
export type WindowOrder = 'recorded' | 'file' | 'shuffle' | 'grouped';
export type SourceKind = 'har' | 'synthetic';

export const SPLIT_CHOICES: readonly SplitChoice[] = ['test', 'train', 'both'];
export const WINDOW_ORDERS: readonly WindowOrder[] = ['recorded', 'file', 'shuffle', 'grouped'];

/** The majority label of a span of readings: `label` (with its share of the readings), or a tie. */
export type MajorityResult = { readonly kind: 'label'; readonly label: number; readonly samples: number } | { readonly kind: 'tie' };

/** What the scoreboard needs from a stream: the label of readings by index. */
export interface LabelSource {
  /** Majority label of readings [k0, k0 + len); undefined when k0 < 0 or len < 1. */
  majorityLabel(k0: number, len: number): MajorityResult | undefined;
}

export interface SiteStreamOptions {
  /** Default 'file' (loadSimSites picks 'recorded' for HAR). */
  readonly order?: WindowOrder;
  /** Seed of the 'shuffle' order (a new permutation every loop). */
  readonly seed?: number;
}

/** Shuffled-order permutations kept per loop (scoring looks back at most a few seconds). */
const PERMUTATION_CACHE = 4;

/** One site's windows as an endless, labelled signal (back to back, or as the rebuilt recording). */
export class SiteStream implements LabelSource {
  readonly channels: number;
  /** Samples per source window (HAR: 128); also the default prediction window of the scoreboard. */
  readonly windowLength: number;
  readonly windowCount: number;
  /** Readings in one pass over all windows (each raw sample once in the recorded order). */
  readonly samplesPerLoop: number;
  readonly order: WindowOrder;
  /** The rebuilt recording (order 'recorded' only). */
  readonly recording: Recording | undefined;
  private readonly x: Float32Array;
  private readonly y: Uint8Array;
  private readonly seed: number;
  private readonly fixedOrder: Int32Array | undefined;
  private readonly perms = new Map<number, Int32Array>();

  constructor(windows: WindowSet, opts: SiteStreamOptions = {}) {
    const { n, channels, length, x, y } = windows;
    if (!Number.isInteger(n) || n < 1) throw new SitekdError(ErrorCode.CONFIG_INVALID, `a simulated site needs at least one window, got ${n}`);
    if (x.length !== n * channels * length) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `windows hold ${x.length} values, expected n·C·L = ${n * channels * length}`);
    }
    if (y === undefined || y.length !== n) throw new SitekdError(ErrorCode.INPUT_SHAPE, `a simulated site needs one label per window (${n})`);
    this.x = x;
    this.y = y;
    this.channels = channels;
    this.windowLength = length;
    this.windowCount = n;
    this.order = opts.order ?? 'file';
    if (!WINDOW_ORDERS.includes(this.order)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `unknown window order "${String(this.order)}"`);
    this.seed = opts.seed ?? 0;
    this.recording = this.order === 'recorded' && length >= 2 ? buildRecording(windows, chainWindows(windows)) : undefined;
    this.samplesPerLoop = this.recording?.samples ?? n * length;
    if (this.order === 'grouped') {
      // Stable sort by label: runs of one activity, file order within a run.
      const idx = Array.from({ length: n }, (_, i) => i);
      idx.sort((a, b) => (y[a] as number) - (y[b] as number) || a - b);
      this.fixedOrder = Int32Array.from(idx);
    } else {
      this.fixedOrder = undefined;
    }
  }

  /** Index (into the window set) of the window reading k is taken from; k ≥ 0. */
  windowAt(k: number): number {
    const loop = Math.floor(k / this.samplesPerLoop);
    const inLoop = k - loop * this.samplesPerLoop;
    if (this.recording !== undefined) return this.recording.owner[inLoop] as number;
    const pos = Math.floor(inLoop / this.windowLength);
    if (this.order === 'file' || this.order === 'recorded') return pos;
    if (this.fixedOrder !== undefined) return this.fixedOrder[pos] as number;
    return this.permutation(loop)[pos] as number;
  }

  /** The C values of reading k, in channel order (`out` is reused when given). */
  valuesAt(k: number, out: Float32Array = new Float32Array(this.channels)): Float32Array {
    const C = this.channels;
    if (this.recording !== undefined) {
      const base = (k % this.samplesPerLoop) * C;
      for (let c = 0; c < C; c++) out[c] = this.recording.x[base + c] as number;
      return out;
    }
    const i = this.windowAt(k);
    const t = k % this.windowLength;
    const L = this.windowLength;
    for (let c = 0; c < C; c++) out[c] = this.x[(i * C + c) * L + t] as number;
    return out;
  }

  /** Label of reading k (of the window it is taken from). */
  labelAt(k: number): number {
    if (this.recording !== undefined) return this.recording.labels[k % this.samplesPerLoop] as number;
    return this.y[this.windowAt(k)] as number;
  }

  /** Majority label of readings [k0, k0 + len), counted sample by sample; a tie between the top labels is reported. */
  majorityLabel(k0: number, len: number): MajorityResult | undefined {
    if (!Number.isInteger(k0) || !Number.isInteger(len) || k0 < 0 || len < 1) return undefined;
    const counts = new Map<number, number>();
    const end = k0 + len;
    for (let k = k0; k < end; ) {
      const next = Math.min(end, this.runEnd(k));
      const label = this.labelAt(k);
      counts.set(label, (counts.get(label) ?? 0) + (next - k));
      k = next;
    }
    let best = -1;
    let bestCount = 0;
    let tie = false;
    for (const [label, c] of counts) {
      if (c > bestCount) {
        best = label;
        bestCount = c;
        tie = false;
      } else if (c === bestCount) {
        tie = true;
      }
    }
    return tie ? { kind: 'tie' } : { kind: 'label', label: best, samples: bestCount };
  }

  /** The first reading after k that may have another label: the next window boundary, or the next reading. */
  private runEnd(k: number): number {
    if (this.recording !== undefined) return k + 1;
    return (Math.floor(k / this.windowLength) + 1) * this.windowLength;
  }

  private permutation(loop: number): Int32Array {
    const hit = this.perms.get(loop);
    if (hit !== undefined) return hit;
    const perm = createRng(deriveSeed(this.seed, 0x5157, loop)).permutation(this.windowCount);
    this.perms.set(loop, perm);
    if (this.perms.size > PERMUTATION_CACHE) {
      const oldest = this.perms.keys().next().value as number;
      this.perms.delete(oldest);
    }
    return perm;
  }
}

/** One simulated site: its MQTT site id, where its signal comes from, and the signal. */
export interface SimSite {
  readonly site: string;
  readonly kind: SourceKind;
  /** HAR subject id, or the synthetic domain id (`site-3`). */
  readonly subject: string;
  /**
   * For people, and the `description` of the score JSON: the subject, the windows used and how they play, e.g.
   * `HAR subject 11 (test + train splits, recorded order: 316 windows chained by their exact 64-sample overlaps into 29
   * continuous recordings, 22080 samples per loop)` or `… (test split, 95 windows back to back in file order)`.
   */
  readonly description: string;
  readonly classNames: readonly string[];
  readonly samplingRateHz: number;
  readonly stream: SiteStream;
}

export interface SimSourceOptions {
  readonly sites: number;
  /**
   * Dataset directory or data root. undefined: `../shared/data/HAR` when present, synthetic otherwise; a path that
   * has no data is an error. Ignored when `synthetic` is set.
   */
  readonly data?: string;
  /** Use synthetic sites even when HAR data exists. */
  readonly synthetic?: boolean;
  /** HAR subjects to use, in site order (default: scenario targets 11, 13, 16, 18, 23, then the rest). */
  readonly subjects?: readonly string[];
  /**
   * Windows to use. 'both' is the test windows, then the train windows. Default: 'both' for the 'recorded' order (the
   * whole recording), 'test' for the others.
   */
  readonly split?: SplitChoice;
  /** Default: 'recorded' for HAR data, 'file' for synthetic sites (whose windows are independent). */
  readonly order?: WindowOrder;
  readonly seed?: number;
  /** Site ids are `${sitePrefix}${i}` for i = 1..sites. Default `site-`. */
  readonly sitePrefix?: string;
  /** Synthetic data spec (default `defaultSyntheticSpec.harLike`, whose site 0 is the hub's source). */
  readonly syntheticSpec?: SyntheticSpec;
}

export interface LoadedSimSites {
  readonly sites: readonly SimSite[];
  readonly kind: SourceKind;
  /** For people: where the data came from. */
  readonly origin: string;
}

export const MAX_SIM_SITES = 1000;

function concatSplits(d: Domain, split: SplitChoice): WindowSet {
  if (split === 'test') return d.test;
  if (split === 'train') return d.train;
  const a = d.test;
  const b = d.train;
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x, 0);
  x.set(b.x, a.x.length);
  const y = new Uint8Array(a.n + b.n);
  if (a.y !== undefined) y.set(a.y, 0);
  if (b.y !== undefined) y.set(b.y, a.n);
  return { n: a.n + b.n, channels: a.channels, length: a.length, x, y };
}

/** The split a stream order uses unless told: the whole recording for 'recorded', the test windows otherwise. */
export function defaultSplit(order: WindowOrder): SplitChoice {
  return order === 'recorded' ? 'both' : 'test';
}

/**
 * How a stream plays its windows, for the site description (shown by `sitekd sim` and in the score JSON), e.g.
 * `recorded order: 316 windows chained by their exact 64-sample overlaps into 29 continuous recordings, 22080 samples
 * per loop`.
 */
export function describeStream(stream: SiteStream): string {
  const r = stream.recording;
  if (r === undefined) return `${stream.windowCount} windows back to back in ${stream.order} order`;
  const ch = r.chains;
  if (ch.links === 0) return `recorded order: none of the ${ch.windows} windows overlap, so they play back to back in file order`;
  const recordings = ch.chains.length === 1 ? '1 continuous recording' : `${ch.chains.length} continuous recordings`;
  return `recorded order: ${ch.windows} windows chained by their exact ${ch.overlap}-sample overlaps into ${recordings}, ${r.samples} samples per loop`;
}

/** Site ids for `count` sites: `${prefix}1` … `${prefix}${count}`, each checked as a protocol site id. */
export function siteIds(count: number, prefix = 'site-'): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SIM_SITES) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `--sites must be an integer in 1..${MAX_SIM_SITES}, got ${count}`);
  }
  const ids = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
  for (const id of ids) {
    if (!isValidSiteId(id)) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `site id "${id}" (from --site-prefix "${prefix}") is not a valid site id: use [A-Za-z0-9_.-], starting with a letter or digit`);
    }
  }
  return ids;
}

/**
 * HAR subjects in site order: the scenario targets (11, 13, 16, 18, 23 for HAR), then the remaining subjects in
 * manifest order that are no scenario's source, then the sources (the hub trains its teacher on a source).
 */
export function pickHarSubjects(domains: readonly string[], scenarios: readonly { source: string; target: string }[], count: number): string[] {
  const known = new Set(domains);
  const sources = new Set(scenarios.map((s) => s.source));
  const order: string[] = [];
  const add = (id: string): void => {
    if (known.has(id) && !order.includes(id)) order.push(id);
  };
  for (const s of scenarios) add(s.target);
  for (const d of domains) if (!sources.has(d)) add(d);
  for (const d of domains) add(d);
  if (count > order.length) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `asked for ${count} sites but the data set has only ${order.length} subjects`, {
      details: { subjects: order.length },
    });
  }
  return order.slice(0, count);
}

/** Finds the HAR dataset directory, or undefined when `data` is not given and the default location has none. */
export function findHarDir(data: string | undefined): string | undefined {
  if (data !== undefined) return resolveDataDir(data);
  try {
    return resolveDataDir();
  } catch {
    return undefined;
  }
}

/** Builds the simulated sites (HAR subjects or synthetic shifted sites). */
export function loadSimSites(opts: SimSourceOptions): LoadedSimSites {
  const ids = siteIds(opts.sites, opts.sitePrefix ?? 'site-');
  const harDir = opts.synthetic === true ? undefined : findHarDir(opts.data);
  const order: WindowOrder = opts.order ?? (harDir !== undefined ? 'recorded' : 'file');
  const split = opts.split ?? defaultSplit(order);
  const streamOpts: SiteStreamOptions = { order, seed: opts.seed ?? 0 };
  const splitText = split === 'both' ? 'test + train splits' : `${split} split`;

  if (harDir !== undefined) {
    const manifest = loadManifest(harDir);
    const domains = listDomains(manifest);
    let subjects: string[];
    if (opts.subjects !== undefined && opts.subjects.length > 0) {
      if (opts.subjects.length < ids.length) {
        throw new SitekdError(ErrorCode.CONFIG_INVALID, `${ids.length} sites need ${ids.length} subjects, got ${opts.subjects.length}`);
      }
      subjects = opts.subjects.slice(0, ids.length);
    } else {
      let scenarios: { source: string; target: string }[] = [];
      try {
        scenarios = loadScenarios(harDir);
      } catch {
        // No scenarios.json: subjects in manifest order.
      }
      subjects = pickHarSubjects(domains, scenarios, ids.length);
    }
    const rate = manifest.samplingRateHz ?? 50;
    const name = manifest.dataset ?? 'UCI-HAR';
    const sites = ids.map((site, i): SimSite => {
      const subject = subjects[i] as string;
      const d = loadDomain(manifest, subject);
      const stream = new SiteStream(concatSplits(d, split), { ...streamOpts, seed: deriveSeed(streamOpts.seed ?? 0, i) });
      return {
        site,
        kind: 'har',
        subject,
        description: `${name} subject ${subject} (${splitText}, ${describeStream(stream)})`,
        classNames: manifest.classNames,
        samplingRateHz: rate,
        stream,
      };
    });
    return { sites, kind: 'har', origin: manifest.dir };
  }

  const spec = opts.syntheticSpec ?? defaultSyntheticSpec.harLike;
  // Site s of the generator does not depend on the number of sites; site 0 is the (unshifted) source.
  const generated = generateSites({ ...spec, sites: ids.length + 1 });
  const classNames = syntheticClassNames(spec.numClasses);
  const sites = ids.map((site, i): SimSite => {
    const d = generated[i + 1] as Domain;
    const stream = new SiteStream(concatSplits(d, split), { ...streamOpts, seed: deriveSeed(streamOpts.seed ?? 0, i) });
    return {
      site,
      kind: 'synthetic',
      subject: d.id,
      description: `synthetic ${d.id} (seed ${spec.seed}, shift ${spec.shift}, ${splitText}, ${describeStream(stream)})`,
      classNames,
      samplingRateHz: spec.samplingRateHz ?? 50,
      stream,
    };
  });
  return { sites, kind: 'synthetic', origin: `synthetic (seed ${spec.seed})` };
}

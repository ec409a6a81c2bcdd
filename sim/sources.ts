/**
 * Where the simulator's sensor streams come from: real UCI-HAR subjects when the data set is there, synthetic shifted
 * sites otherwise, each turned into one endless, labelled signal (sim/site-stream.ts, which also explains the orders).
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { listDomains, loadDomain, loadManifest, loadScenarios, resolveDataDir } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticClassNames, type SyntheticSpec } from '../shared/data/synthetic';
import type { Domain, WindowSet } from '../shared/ml/types';
import { deriveSeed } from '../shared/random';
import { isValidSiteId } from '../shared/protocol/topics';
import { describeStream, SiteStream, type SiteStreamOptions, type WindowOrder } from './site-stream';

export type SplitChoice = 'test' | 'train' | 'both';
export type SourceKind = 'har' | 'synthetic';

export const SPLIT_CHOICES: readonly SplitChoice[] = ['test', 'train', 'both'];

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

/** The windows of `split`; 'both' is the test windows, then the train windows (as SimSourceOptions.split says). */
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

/** How every site of one run plays its windows. */
interface Playback {
  readonly split: SplitChoice;
  readonly splitText: string;
  readonly streamOpts: SiteStreamOptions;
}

/** Builds the simulated sites (HAR subjects or synthetic shifted sites). */
export function loadSimSites(opts: SimSourceOptions): LoadedSimSites {
  const ids = siteIds(opts.sites, opts.sitePrefix ?? 'site-');
  const harDir = opts.synthetic === true ? undefined : findHarDir(opts.data);
  const order: WindowOrder = opts.order ?? (harDir !== undefined ? 'recorded' : 'file');
  const split = opts.split ?? defaultSplit(order);
  const play: Playback = {
    split,
    splitText: split === 'both' ? 'test + train splits' : `${split} split`,
    streamOpts: { order, seed: opts.seed ?? 0 },
  };
  return harDir !== undefined ? loadHarSites(ids, harDir, opts, play) : loadSyntheticSites(ids, opts, play);
}

/** Site i's stream: its windows in the run's order, with a seed of its own. */
function siteStream(d: Domain, play: Playback, i: number): SiteStream {
  return new SiteStream(concatSplits(d, play.split), { ...play.streamOpts, seed: deriveSeed(play.streamOpts.seed ?? 0, i) });
}

function loadHarSites(ids: readonly string[], harDir: string, opts: SimSourceOptions, play: Playback): LoadedSimSites {
  const manifest = loadManifest(harDir);
  const subjects = harSubjects(ids.length, harDir, listDomains(manifest), opts.subjects);
  const rate = manifest.samplingRateHz ?? 50;
  const name = manifest.dataset ?? 'UCI-HAR';
  const sites = ids.map((site, i): SimSite => {
    const subject = subjects[i] as string;
    const stream = siteStream(loadDomain(manifest, subject), play, i);
    return {
      site,
      kind: 'har',
      subject,
      description: `${name} subject ${subject} (${play.splitText}, ${describeStream(stream)})`,
      classNames: manifest.classNames,
      samplingRateHz: rate,
      stream,
    };
  });
  return { sites, kind: 'har', origin: manifest.dir };
}

/** The subjects asked for, or else the scenario targets first ({@link pickHarSubjects}). */
function harSubjects(count: number, harDir: string, domains: readonly string[], asked: readonly string[] | undefined): string[] {
  if (asked !== undefined && asked.length > 0) {
    if (asked.length < count) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `${count} sites need ${count} subjects, got ${asked.length}`);
    }
    return asked.slice(0, count);
  }
  let scenarios: { source: string; target: string }[] = [];
  try {
    scenarios = loadScenarios(harDir);
  } catch {
    // No scenarios.json: subjects in manifest order.
  }
  return pickHarSubjects(domains, scenarios, count);
}

function loadSyntheticSites(ids: readonly string[], opts: SimSourceOptions, play: Playback): LoadedSimSites {
  const spec = opts.syntheticSpec ?? defaultSyntheticSpec.harLike;
  // Site s of the generator does not depend on the number of sites; site 0 is the (unshifted) source.
  const generated = generateSites({ ...spec, sites: ids.length + 1 });
  const classNames = syntheticClassNames(spec.numClasses);
  const sites = ids.map((site, i): SimSite => {
    const d = generated[i + 1] as Domain;
    const stream = siteStream(d, play, i);
    return {
      site,
      kind: 'synthetic',
      subject: d.id,
      description: `synthetic ${d.id} (seed ${spec.seed}, shift ${spec.shift}, ${play.splitText}, ${describeStream(stream)})`,
      classNames,
      samplingRateHz: spec.samplingRateHz ?? 50,
      stream,
    };
  });
  return { sites, kind: 'synthetic', origin: `synthetic (seed ${spec.seed})` };
}

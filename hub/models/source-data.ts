/**
 * The data the hub trains from: the labelled source domain (`data` + `source`), the model input layout it implies
 * (window length, channels, classes: every model the hub makes and every batch it accepts must fit it), and the
 * operator-supplied labelled sets of sites (`labelledSites`, test splits), checked against the same layout.
 *
 * `source` may name several domains (`2,7,12,9,6`): their train splits are concatenated, in the order given, into one
 * labelled source set (and their test splits likewise) whose id is the list itself. They must share one window shape
 * (CONFIG_INVALID otherwise); one id loads that domain as it is.
 */
import { loadDomain, loadManifest, resolveDataDir } from '../../shared/data/har';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { inputFor } from '../../shared/ml/model-spec';
import type { Domain, WindowSet } from '../../shared/ml/types';
import { sourceIds, type HubConfig } from '../config';
import type { Logger } from '../../shared/log';
import type { InputLayout } from './teacher';

export interface SourceData {
  readonly source: Domain;
  readonly input: InputLayout;
  readonly labelled: ReadonlyMap<string, WindowSet>;
}

/**
 * Concatenates labelled window sets of one shape (`names` label them in errors). Throws CONFIG_INVALID for a set of
 * another [channels, length] or without labels, INPUT_SHAPE for a set whose arrays do not match its n.
 */
export function concatWindowSets(sets: readonly WindowSet[], names: readonly string[] = sets.map((_, i) => `set ${i}`)): WindowSet {
  const first = sets[0];
  if (first === undefined) throw new SitekdError(ErrorCode.CONFIG_INVALID, 'no window sets to concatenate');
  let n = 0;
  sets.forEach((s, i) => {
    const name = names[i] ?? `set ${i}`;
    if (s.channels !== first.channels || s.length !== first.length) {
      throw new SitekdError(
        ErrorCode.CONFIG_INVALID,
        `source ${name} has ${s.channels}×${s.length} windows, ${names[0] ?? 'set 0'} ${first.channels}×${first.length}: source domains must share one shape`,
        { details: { domain: name, channels: s.channels, length: s.length, expected: { channels: first.channels, length: first.length } } },
      );
    }
    if (s.y === undefined) throw new SitekdError(ErrorCode.CONFIG_INVALID, `source ${name} is not labelled`);
    if (s.x.length !== s.n * s.channels * s.length || s.y.length !== s.n) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `source ${name}: ${s.x.length} values and ${s.y.length} labels for ${s.n} windows of ${s.channels}×${s.length}`);
    }
    n += s.n;
  });
  if (sets.length === 1) return first;
  const x = new Float32Array(n * first.channels * first.length);
  const y = new Uint8Array(n);
  let i = 0;
  for (const s of sets) {
    x.set(s.x, i * first.channels * first.length);
    y.set(s.y as Uint8Array, i);
    i += s.n;
  }
  return { n, channels: first.channels, length: first.length, x, y };
}

/** Throws DATA_* codes for missing or damaged data and CONFIG_INVALID for a labelled set or source of another shape. */
export function loadSourceData(c: Pick<HubConfig, 'data' | 'source' | 'labelledSites'>, log: Logger): SourceData {
  const manifest = loadManifest(resolveDataDir(c.data));
  const ids = sourceIds(c.source);
  if (ids.length === 0) throw new SitekdError(ErrorCode.CONFIG_INVALID, 'source names no domain');
  const domains = ids.map((id) => loadDomain(manifest, id));
  const source: Domain =
    domains.length === 1
      ? (domains[0] as Domain)
      : { id: ids.join(','), train: concatWindowSets(domains.map((d) => d.train), ids), test: concatWindowSets(domains.map((d) => d.test), ids) };
  const input = { ...inputFor(manifest.channels, manifest.length, manifest.classNames.length), classNames: manifest.classNames, ...(manifest.channelNames !== undefined && { channelNames: manifest.channelNames }) };
  if (source.train.channels !== manifest.channels || source.train.length !== manifest.length) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `source ${source.id} has ${source.train.channels}×${source.train.length} windows, the data set ${manifest.channels}×${manifest.length}`);
  }
  const labelled = new Map<string, WindowSet>();
  for (const [site, l] of Object.entries(c.labelledSites)) {
    const m = loadManifest(resolveDataDir(l.data));
    if (m.channels !== manifest.channels || m.length !== manifest.length || m.classNames.length !== manifest.classNames.length) {
      throw new SitekdError(
        ErrorCode.CONFIG_INVALID,
        `labelled set of site ${site} (${l.data}) has ${m.channels}×${m.length} windows and ${m.classNames.length} classes; the source data ${manifest.channels}×${manifest.length} and ${manifest.classNames.length}`,
      );
    }
    labelled.set(site, loadDomain(m, l.domain).test);
  }
  log.info('source data', {
    dir: manifest.dir, source: source.id, windows: source.train.n, channels: manifest.channels, length: manifest.length, classes: manifest.classNames.length,
    ...(domains.length > 1 && { perDomain: Object.fromEntries(domains.map((d) => [d.id, d.train.n])) }),
  });
  return { source, input, labelled };
}

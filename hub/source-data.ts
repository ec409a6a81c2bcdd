/**
 * The data the hub trains from: the labelled source domain (`data` + `source`), the model input layout it implies
 * (window length, channels, classes: every model the hub makes and every batch it accepts must fit it), and the
 * operator-supplied labelled sets of sites (`labelledSites`, test splits), checked against the same layout.
 */
import { loadDomain, loadManifest, resolveDataDir } from '../shared/data/har';
import { ErrorCode, SitekdError } from '../shared/errors';
import { inputFor } from '../shared/ml/model-spec';
import type { Domain, WindowSet } from '../shared/ml/types';
import type { HubConfig } from './config';
import type { Logger } from './log';
import type { InputLayout } from './teacher';

export interface SourceData {
  readonly source: Domain;
  readonly input: InputLayout;
  readonly labelled: ReadonlyMap<string, WindowSet>;
}

/** Throws DATA_* codes for missing or damaged data and CONFIG_INVALID for a labelled set of another shape. */
export function loadSourceData(c: Pick<HubConfig, 'data' | 'source' | 'labelledSites'>, log: Logger): SourceData {
  const manifest = loadManifest(resolveDataDir(c.data));
  const source = loadDomain(manifest, c.source);
  const input = inputFor(manifest.channels, manifest.length, manifest.classNames.length);
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
  log.info('source data', { dir: manifest.dir, source: c.source, windows: source.train.n, channels: manifest.channels, length: manifest.length, classes: manifest.classNames.length });
  return { source, input, labelled };
}

/**
 * Reader and writer for the plain binary dataset layout of ../shared/data (see its README.md):
 *
 *   <root>/scenarios.json                 { "<DATASET>": { data_dir, scenarios: [{source, target}] } }
 *   <root>/<DATASET>/manifest.json        class_names, channel_names, sampling_rate_hz, files[]
 *   <root>/<DATASET>/<d>_<s>.f32          little-endian float32, row-major [n, channels, length]
 *   <root>/<DATASET>/<d>_<s>.labels.u8    one 0-based class byte per window
 *
 * This module is the layout's API for the rest of the code; each part lives in its own file:
 *  - data-dir.ts       where a dataset is (`--data` as a data root or a dataset directory, the default root);
 *  - har-manifest.ts   manifest.json: schema, consistency checks, domain ids;
 *  - har-reader.ts     a domain's windows and labels, checked against the manifest;
 *  - har-scenarios.ts  scenarios.json: the source → target pairs;
 *  - har-writer.ts     writing domains in this layout.
 */
export { DEFAULT_DATASET, MANIFEST_FILE, defaultDataRoot, resolveDataDir } from './data-dir';
export { listDomains, loadManifest, type DatasetManifest, type ManifestFile } from './har-manifest';
export { loadDomain, loadDomains, type LoadOptions } from './har-reader';
export { SCENARIOS_FILE, loadScenarios, type Scenario } from './har-scenarios';
export { writeDataset, type DatasetSpec } from './har-writer';

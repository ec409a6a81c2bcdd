/**
 * `<root>/scenarios.json`: the source → target domain pairs of the UNI-KD benchmark (for HAR: five subject pairs),
 * shared by the demo, the benchmarks and the simulator's choice of subjects.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import { DEFAULT_DATASET, resolveDataDir } from './data-dir';
import { invalidDataFile, readJsonFile } from './har-manifest';

export const SCENARIOS_FILE = 'scenarios.json';

export interface Scenario {
  readonly source: string;
  readonly target: string;
}

const scenarioIdSchema = z.union([z.string().min(1), z.number().int()]).transform(String);
const scenarioEntrySchema = z.looseObject({
  data_dir: z.string().optional(),
  scenarios: z.array(z.looseObject({ source: scenarioIdSchema, target: scenarioIdSchema })),
});

/**
 * Source→target pairs from the data root's scenarios.json. The real file is keyed by dataset name:
 * `{ "source_of_scenarios": "...", "HAR": { "data_dir": "HAR", "scenarios": [{ "source": "2",
 * "target": "11", "complete": true, "missing": [] }, ...] } }`. `dir` may be the root or the
 * dataset directory; scenarios.json is looked for in the dataset directory, then its parent.
 */
export function loadScenarios(dir: string, dataset: string = DEFAULT_DATASET): Scenario[] {
  const dataDir = resolveDataDir(dir, dataset);
  const files = [path.join(dataDir, SCENARIOS_FILE), path.join(path.dirname(dataDir), SCENARIOS_FILE)];
  const file = files.find((f) => fs.existsSync(f));
  if (file === undefined) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `no ${SCENARIOS_FILE} in ${files.join(' or ')}`);
  }
  const root = z.record(z.string(), z.unknown()).safeParse(readJsonFile(file));
  if (!root.success) throw invalidDataFile(file, 'expected an object keyed by dataset name');
  // Key by the dataset name, else by the directory name, else by a matching data_dir.
  const dirName = path.basename(dataDir);
  const byDataDir = Object.values(root.data).find((v) => scenarioEntrySchema.safeParse(v).data?.data_dir === dirName);
  const entry = root.data[dataset] ?? root.data[dirName] ?? byDataDir;
  if (entry === undefined) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `${file} has no scenarios for dataset ${dataset}`);
  }
  const parsed = scenarioEntrySchema.safeParse(entry);
  if (!parsed.success) throw invalidDataFile(file, z.prettifyError(parsed.error));
  return parsed.data.scenarios.map((s) => ({ source: s.source, target: s.target }));
}

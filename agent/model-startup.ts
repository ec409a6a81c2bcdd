/**
 * The model an agent serves from its first window: the store's active model, else its previous one (a damaged or
 * unusable active model is set aside), else the configured initial model file, else none. Every candidate is
 * checked as a model from the hub would be — sha256 against the store's pointer, decode, spec, probe — so a file
 * damaged on disk or a model that crashed the probe after a swap (the agent died between swap and commit) never
 * serves.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { sha256Hex } from '../shared/protocol/chunks';
import type { Logger } from '../shared/log';
import { loadModel, probeModel, type LoadedModel, type ModelShape } from './model-probe';
import type { ModelStore } from './model-store';

export interface StartupModelOptions {
  readonly store: ModelStore;
  readonly shape: ModelShape;
  /** Bytes of `config.modelFile` (read by main only when the store was empty). */
  readonly initial?: { readonly bytes: Uint8Array; readonly path: string } | undefined;
  readonly log: Logger;
  /** Told about each stored model that cannot serve (counted in telemetry `dropped`). */
  readonly onUnusable: (err: SitekdError) => void;
}

export async function loadStartupModel(opts: StartupModelOptions): Promise<LoadedModel | null> {
  const { store, shape, log } = opts;
  while (store.active !== null) {
    const entry = store.active;
    try {
      const bytes = await store.read(entry);
      return probed(loadModel(bytes, { version: entry.version, sha256: entry.sha256, createdAt: entry.createdAt, source: entry.source }, shape));
    } catch (err) {
      log.error('stored model is unusable', { version: entry.version, err });
      opts.onUnusable(err instanceof SitekdError ? err : new SitekdError(ErrorCode.MODEL_LOAD, String(err), { cause: err }));
      await store.demoteActive(err instanceof Error ? err.message : String(err));
    }
  }
  const init = opts.initial;
  if (init === undefined) return null;
  const sha256 = sha256Hex(init.bytes);
  // A local file is trusted by whoever configured it (no signature), but it is checked like any model before it serves.
  let model: LoadedModel;
  try {
    model = probed(loadModel(init.bytes, { sha256, createdAt: null, source: 'file' }, shape));
  } catch (err) {
    // A configured file that can never serve is a setup mistake: restarting will not fix it (exit 78).
    const code = err instanceof SitekdError ? err.code : 'unknown';
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `the model file ${init.path} cannot serve (${code}): ${(err as Error).message}`, { cause: err, details: { path: init.path, code } });
  }
  try {
    await store.swap(init.bytes, { version: model.version, sha256, createdAt: null, source: 'file' });
  } catch (err) {
    model.predictor.dispose();
    throw err;
  }
  log.info('initial model installed', { version: model.version, path: init.path });
  return model;
}

function probed(model: LoadedModel): LoadedModel {
  try {
    probeModel(model, []);
  } catch (err) {
    model.predictor.dispose();
    throw err;
  }
  return model;
}

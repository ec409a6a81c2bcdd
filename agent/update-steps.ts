/**
 * The update steps that work on the model itself once its chunks are in: assemble the bytes, decode them into a
 * model that fits the agent, install them on disk (and read them back), and probe the model on real windows.
 * agent/model-updater.ts runs them in the order agent/update-plan.ts gives, between `fetch` and `commit`, which belong
 * to the updater because they touch its transfer state and the serving model.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { sha256Hex, type ChunkAssembler } from '../shared/protocol/chunks';
import type { ModelManifest } from '../shared/protocol/messages';
import { loadModel, probeModel, type LoadedModel, type ModelShape } from './model-probe';
import type { ChunkStaging, ModelStore, SwapToken } from './model-store';

/** What one run carries from step to step. */
export interface Run {
  readonly manifest: ModelManifest;
  readonly assembler: ChunkAssembler;
  readonly staging: ChunkStaging;
  bytes?: Uint8Array;
  model?: LoadedModel;
  token?: SwapToken;
}

/** Joins the chunks; the assembler checks the whole artifact's size and sha256 against the manifest. */
export function assembleStep(run: Run): void {
  const r = run.assembler.assemble();
  if (!r.ok) throw r.error;
  run.bytes = r.value;
}

/** Decodes the artifact and checks its spec against the manifest's and the agent's input shape. */
export function decodeStep(run: Run, shape: ModelShape): void {
  run.model = loadModel(
    need(run.bytes),
    { version: run.manifest.version, sha256: run.manifest.sha256, createdAt: run.manifest.createdAt, source: 'hub', manifestSpec: run.manifest.spec },
    shape,
  );
}

/** Installs the bytes as the current model file (the token lets a later failure roll the disk back). */
export async function swapStep(run: Run, store: ModelStore): Promise<void> {
  const m = run.manifest;
  run.token = await store.swap(need(run.bytes), { version: m.version, sha256: m.sha256, createdAt: m.createdAt, source: 'hub' });
  // Read back what is now on disk: the file that serves after a restart must be the verified one.
  const back = await store.read(run.token.installed);
  if (sha256Hex(back) !== m.sha256) throw new SitekdError(ErrorCode.MODEL_CHECKSUM, 'the installed model reads back differently');
}

export function probeStep(run: Run, windows: readonly Float32Array[]): void {
  probeModel(need(run.model), windows);
}

/** A value an earlier step of the plan must have set. */
export function need<T>(v: T | undefined): T {
  if (v === undefined) throw new SitekdError(ErrorCode.MODEL_CORRUPT, 'update step ran out of order');
  return v;
}

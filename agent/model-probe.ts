/**
 * Loading a model artifact into a ready predictor, and the probe that must pass before a model serves.
 *
 * The probe runs the new predictor on a few recent real windows (or one window of zeros when none was seen yet) and
 * requires usable outputs: the right number of classes, every logit and probability finite, probabilities summing to
 * 1, no tensor left behind. It catches what the checksums cannot: a correctly signed model that is numerically broken
 * (weights so large the logits overflow), or a backend that cannot run it.
 */
import { cnnFromArtifact, decodeCnnArtifact } from '../shared/artifact/cnn-artifact';
import { ErrorCode, SitekdError } from '../shared/errors';
import type { CnnSpec } from '../shared/ml/model-spec';
import { Predictor } from '../shared/ml/predictor';
import { tf } from '../shared/ml/tf';
import { isValidId } from '../shared/protocol/topics';

export interface ModelShape {
  /** Channels the agent feeds (config `channels.length`). */
  readonly channels: number;
  readonly windowLength: number;
}

/** A model ready to serve. */
export interface LoadedModel {
  /** The version as the wire names it (the manifest's; for a local file, the artifact's own if it is a valid id). */
  readonly version: string;
  /** sha256 of the artifact bytes. */
  readonly sha256: string;
  readonly spec: CnnSpec;
  readonly predictor: Predictor;
  /** The manifest's createdAt, or null for a model from a local file. */
  readonly createdAt: number | null;
  readonly source: 'hub' | 'file';
  /** The class names the artifact carries (one per class), if any: what predictions say when the config names none. */
  readonly classNames?: readonly string[];
}

/** Why a spec cannot run on this agent, or undefined when it can. */
export function specMismatch(spec: Pick<CnnSpec, 'inChannels' | 'windowLength'>, shape: ModelShape): string | undefined {
  if (spec.inChannels !== shape.channels) return `model has ${spec.inChannels} input channels, the agent feeds ${shape.channels}`;
  if (spec.windowLength !== shape.windowLength) return `model windows are ${spec.windowLength} readings, the agent cuts ${shape.windowLength}`;
  return undefined;
}

function sameSpec(a: CnnSpec, b: CnnSpec): boolean {
  const keys = Object.keys(a) as (keyof CnnSpec)[];
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * Decodes artifact bytes into a predictor. Throws SitekdError: MODEL_CORRUPT / MODEL_CHECKSUM / MODEL_SPEC_INVALID
 * (from the artifact codec), MODEL_SPEC_MISMATCH (does not fit the agent, or differs from the manifest's spec).
 */
export function loadModel(
  bytes: Uint8Array,
  meta: { version?: string; sha256: string; createdAt: number | null; source: 'hub' | 'file'; manifestSpec?: CnnSpec },
  shape: ModelShape,
): LoadedModel {
  const art = decodeCnnArtifact(bytes);
  const why = specMismatch(art.spec, shape);
  if (why !== undefined) throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, why, { details: { spec: art.spec } });
  if (meta.manifestSpec !== undefined && !sameSpec(meta.manifestSpec, art.spec)) {
    throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, 'the artifact spec differs from the spec its manifest announced', {
      details: { manifest: meta.manifestSpec, artifact: art.spec },
    });
  }
  const net = cnnFromArtifact(art);
  let predictor: Predictor;
  try {
    predictor = new Predictor(net);
  } finally {
    // The predictor keeps its own folded copies of the weights.
    for (const v of Object.values(net.vars)) v.dispose();
  }
  const version = meta.version ?? (isValidId(art.version) ? art.version : `file-${meta.sha256.slice(0, 12)}`);
  const names = art.classNames !== undefined && art.classNames.length === art.spec.numClasses ? { classNames: art.classNames } : {};
  return { version, sha256: meta.sha256, spec: art.spec, predictor, createdAt: meta.createdAt, source: meta.source, ...names };
}

/** Throws MODEL_PROBE_FAILED unless the predictor gives usable outputs on `windows` (zeros when empty). */
export function probeModel(model: LoadedModel, windows: readonly Float32Array[]): void {
  const { inChannels, windowLength, numClasses } = model.spec;
  const size = inChannels * windowLength;
  const inputs = windows.filter((w) => w.length === size).slice(-4);
  if (inputs.length === 0) inputs.push(new Float32Array(size));
  const fail = (message: string, cause?: unknown): never => {
    throw new SitekdError(ErrorCode.MODEL_PROBE_FAILED, `model ${model.version}: ${message}`, {
      ...(cause === undefined ? {} : { cause }),
      details: { version: model.version },
    });
  };
  const tensorsBefore = tf.memory().numTensors;
  for (const w of inputs) {
    let out: ReturnType<Predictor['predictWindow']>;
    try {
      out = model.predictor.predictWindow(w);
    } catch (cause) {
      return fail(`inference failed: ${(cause as Error).message}`, cause);
    }
    if (out.logits.length !== numClasses || out.probs.length !== numClasses) fail(`outputs ${out.probs.length} classes, spec says ${numClasses}`);
    let sum = 0;
    for (let k = 0; k < numClasses; k++) {
      const p = out.probs[k] as number;
      if (!Number.isFinite(out.logits[k]) || !Number.isFinite(p)) fail('outputs are not finite');
      sum += p;
    }
    if (Math.abs(sum - 1) > 1e-3) fail(`probabilities sum to ${sum}`);
    if (!(out.cls >= 0 && out.cls < numClasses)) fail(`class ${out.cls} is out of range`);
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) fail(`inference left ${leaked} tensors behind`);
}

/**
 * A trained CNN ⇄ its self-describing artifact (spec, algorithm and options, hyper-parameters, metrics, every weight
 * including BN running statistics). Loading an artifact rebuilds the exact variables, so predictions are bit-identical.
 */
import { createRng } from '../random';
import { ErrorCode, SitekdError } from '../errors';
import { createCnn, type Cnn } from '../ml/cnn';
import { CnnSpecSchema, type CnnSpec } from '../ml/model-spec';
import { exportVars, importVars } from '../ml/params';
import { decodeArtifact, encodeArtifact, type DecodedArtifact, type HParamValue, type ModelArtifact } from './model-artifact';

export type CnnArtifactMeta = Omit<ModelArtifact<CnnSpec>, 'spec' | 'weights' | 'createdAt' | 'hparams' | 'options'> & {
  readonly createdAt?: string;
  readonly hparams?: Readonly<Record<string, HParamValue>>;
  readonly options?: Readonly<Record<string, unknown>>;
};

export function cnnToArtifact(net: Cnn, meta: CnnArtifactMeta): ModelArtifact<CnnSpec> {
  return {
    ...meta,
    createdAt: meta.createdAt ?? new Date().toISOString(),
    hparams: meta.hparams ?? {},
    options: meta.options ?? {},
    spec: net.spec,
    weights: exportVars(net.vars),
  };
}

export function encodeCnn(net: Cnn, meta: CnnArtifactMeta): Uint8Array {
  return encodeArtifact(cnnToArtifact(net, meta));
}

export function decodeCnnArtifact(bytes: Uint8Array): DecodedArtifact<CnnSpec> {
  return decodeArtifact(bytes, { specSchema: CnnSpecSchema });
}

/** Rebuilds the network of a decoded artifact (weights are assigned, not re-initialised). */
export function cnnFromArtifact(a: DecodedArtifact<CnnSpec>): Cnn {
  const net = createCnn(a.spec, createRng(0));
  try {
    importVars(net.vars, a.weights);
  } catch (err) {
    for (const v of Object.values(net.vars)) v.dispose();
    throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `artifact ${a.version}: ${(err as Error).message}`, { cause: err });
  }
  const extra = Object.keys(a.weights).filter((k) => !(k in net.vars));
  if (extra.length > 0) {
    for (const v of Object.values(net.vars)) v.dispose();
    throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `artifact ${a.version} has unknown weights: ${extra.join(', ')}`);
  }
  return net;
}

/**
 * What to do with a model manifest, decided without any I/O (docs/conventions.md §6.3, after balena-supervisor's
 * `nextStepsForAppUpdate`): `planUpdate` returns data — skip, refuse with a coded error, or a list of steps — and
 * `agent/model-updater.ts` only executes it. The order of the checks follows docs/protocol.md "Model rollout":
 * signature first (nothing an unsigned or forged manifest says may be believed or remembered), then site, already
 * active, already in progress or refused before, staleness against the newest signed time ever accepted, spec.
 */
import { ErrorCode, SitekdError, type ErrorCode as Code } from '../shared/errors';
import type { ModelManifest } from '../shared/protocol/messages';
import { verifyManifest } from '../shared/protocol/signing';
import { specMismatch, type ModelShape } from './model-probe';

export interface CurrentModel {
  readonly version: string;
  readonly sha256: string;
  /** The manifest's createdAt; null for a model from a local file (any signed manifest may replace it). */
  readonly createdAt: number | null;
}

export interface PlanContext {
  /** The agent's site: a manifest for another site is refused. */
  readonly site: string;
  readonly shape: ModelShape;
  /** Pinned hub public keys (PEM). Empty: every manifest is refused. */
  readonly trustedKeys: readonly string[];
  /** The transfer in progress, if any. */
  readonly inFlight: { readonly version: string; readonly sha256: string } | null;
  /** `manifestKey`s of signed manifests refused or failed before: not retried when the retained copy comes again. */
  readonly failed: ReadonlySet<string>;
  /**
   * The newest signed `createdAt` this agent ever accepted (persisted by agent/model-store.ts): an older manifest is
   * stale even when the active model is older still (e.g. after a rollback this agent never saw the version of).
   */
  readonly newestAccepted?: number | null;
  /** Chunk indices already verified and staged for this manifest (a resumed transfer). */
  readonly staged?: readonly number[];
}

export type UpdateStep =
  /** Subscribe to the chunk topics of `missing` and stage each verified chunk until all are there. */
  | { readonly kind: 'fetch'; readonly version: string; readonly missing: readonly number[] }
  /** Join the chunks; the whole must match the manifest's size and sha256 (MODEL_CHECKSUM). */
  | { readonly kind: 'assemble' }
  /** Artifact → predictor (MODEL_CORRUPT, MODEL_SPEC_MISMATCH). */
  | { readonly kind: 'decode' }
  /** Atomic swap on disk; the old model stays previous. After this step a failure rolls back. */
  | { readonly kind: 'swap' }
  /** Run the new predictor on recent windows (MODEL_PROBE_FAILED). */
  | { readonly kind: 'probe' }
  /** Serve the new model, publish the new status, drop the staging area. */
  | { readonly kind: 'commit' };

export type StepKind = UpdateStep['kind'];

export type SkipReason = 'active' | 'in-progress' | 'failed-before' | 'older';

export type UpdatePlan =
  /** `signedAt`: the manifest's createdAt when its signature verified (the agent remembers the newest it saw). */
  | { readonly kind: 'skip'; readonly reason: SkipReason; readonly signedAt?: number }
  /** `remember`: false when the signature did not verify — a forged manifest must not block the genuine one. */
  | { readonly kind: 'refuse'; readonly error: SitekdError; readonly remember: boolean }
  | { readonly kind: 'apply'; readonly version: string; readonly steps: readonly UpdateStep[] };

/** Identifies one manifest: the same version may be re-signed or rebuilt, and each is judged on its own. */
export function manifestKey(m: Pick<ModelManifest, 'version' | 'sha256' | 'signature'>): string {
  return `${m.version}/${m.sha256}/${m.signature}`;
}

export function planUpdate(current: CurrentModel | null, m: ModelManifest, ctx: PlanContext): UpdatePlan {
  const refuse = (code: Code, message: string, details: Record<string, unknown> = {}, remember = true): UpdatePlan => ({
    kind: 'refuse',
    error: new SitekdError(code, message, { details: { version: m.version, ...details } }),
    remember,
  });
  if (ctx.trustedKeys.length === 0) {
    return refuse(ErrorCode.MODEL_SIGNATURE, 'no hub public key is configured, so no manifest can be trusted (set hubPublicKeyFile)', {}, false);
  }
  const verified = verifyManifest(m, ctx.trustedKeys);
  if (!verified.ok) return { kind: 'refuse', error: verified.error, remember: false };
  // From here on the manifest is the hub's own words, createdAt included.
  if (m.site !== ctx.site) return refuse(ErrorCode.MSG_SCHEMA, `manifest names site ${m.site}, its topic is site ${ctx.site}`);
  const signedAt = m.createdAt;
  if (current !== null && current.version === m.version && current.sha256 === m.sha256) return { kind: 'skip', reason: 'active', signedAt };
  if (ctx.inFlight !== null && ctx.inFlight.version === m.version && ctx.inFlight.sha256 === m.sha256) return { kind: 'skip', reason: 'in-progress' };
  if (ctx.failed.has(manifestKey(m))) return { kind: 'skip', reason: 'failed-before' };
  // An old, validly signed manifest replayed later must not downgrade the agent; a rollback comes with a fresh time.
  const floor = Math.max(current?.createdAt ?? -Infinity, ctx.newestAccepted ?? -Infinity);
  if (m.createdAt < floor) return { kind: 'skip', reason: 'older' };
  const why = specMismatch(m.spec, ctx.shape);
  if (why !== undefined) return refuse(ErrorCode.MODEL_SPEC_MISMATCH, why, { spec: m.spec });
  const staged = new Set(ctx.staged ?? []);
  const missing: number[] = [];
  for (let i = 0; i < m.chunks; i++) if (!staged.has(i)) missing.push(i);
  const steps: UpdateStep[] = [];
  if (missing.length > 0) steps.push({ kind: 'fetch', version: m.version, missing });
  steps.push({ kind: 'assemble' }, { kind: 'decode' }, { kind: 'swap' }, { kind: 'probe' }, { kind: 'commit' });
  return { kind: 'apply', version: m.version, steps };
}

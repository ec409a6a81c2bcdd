/**
 * One interface for every training algorithm (docs/conventions.md §6.7): the teacher's DANN, the student baselines
 * and UNI-KD all take the same batch and context, so the loop, benchmarks and the hub treat them alike.
 */
import { z } from 'zod';
import type { Rows } from '../batches';
import type { Cnn } from '../cnn';
import type { Tensor2D, Tensor3D } from '../tf';

export const AlgorithmNameSchema = z.enum(['dann', 'source-only', 'kd', 'unikd']);
export type AlgorithmName = z.infer<typeof AlgorithmNameSchema>;

/** Training hyper-parameters (UNI-KD released config for HAR, docs/unikd.md §2.5 / §3.1). */
export const HParamsSchema = z.strictObject({
  epochs: z.number().int().min(1).max(10_000).default(10),
  batchSize: z.number().int().min(2).max(4096).default(32),
  lr: z.number().positive().max(10).default(1e-2),
  weightDecay: z.number().min(0).max(1).default(1e-4),
  beta1: z.number().min(0).max(0.9999).default(0.5),
  beta2: z.number().min(0).max(0.99999).default(0.99),
  /** KD temperature τ. */
  tau: z.number().positive().max(100).default(4),
  lambdaCls: z.number().min(0).max(100).default(1),
  lambdaDom: z.number().min(0).max(100).default(1),
  /** Hidden width of the discriminators (disc_hid_dim). */
  discHidden: z.number().int().min(1).max(4096).default(64),
});
export type HParams = z.infer<typeof HParamsSchema>;

export interface StepBatch {
  readonly xs: Tensor3D; // [B, L, C] labelled source windows
  readonly ysOneHot: Tensor2D; // [B, classes]
  readonly xt: Tensor3D; // [B, L, C] unlabelled target windows
  /** Row indices of the batch in the source/target training rows (to look up precomputed teacher outputs). */
  readonly srcIdx: Int32Array;
  readonly tgtIdx: Int32Array;
}

export interface StepContext {
  readonly epoch: number; // 1-based, as in the UNI-KD schedules (docs/unikd.md §7.12)
  readonly step: number; // 0-based within the epoch
  readonly stepsPerEpoch: number;
  readonly epochs: number;
}

export type StepLosses = Record<string, number>;

export interface DistillAlgorithm {
  readonly name: AlgorithmName;
  /** The network being trained: the teacher for `dann`, the student otherwise. */
  readonly net: Cnn;
  step(batch: StepBatch, ctx: StepContext): StepLosses;
  /** Frees everything but `net`. */
  dispose(): void;
}

/** Teacher outputs precomputed once in eval mode (the teacher is frozen and always in eval mode). */
export interface TeacherOutputs {
  readonly srcFeatures: Rows;
  readonly srcLogits: Rows;
  readonly tgtFeatures: Rows;
  readonly tgtLogits: Rows;
}

/** GRL coefficient (AdaTime/UNI-KD, docs/unikd.md §2.4): ≈ 1 from the first step. */
export function grlAlpha(ctx: StepContext): number {
  const p = (ctx.step + ctx.epoch * ctx.stepsPerEpoch) / ctx.epochs + 1 / ctx.stepsPerEpoch;
  return 2 / (1 + Math.exp(-10 * p)) - 1;
}

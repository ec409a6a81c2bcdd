import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';

/**
 * The AdaTime 1D-CNN as UNI-KD uses it (docs/unikd.md §1.1): three conv blocks (conv without bias → BN → ReLU →
 * MaxPool1d(2,2,pad 1)), dropout after block 1 only, global average pool, linear classifier.
 * Any channel count, window length and class count; widths pick teacher (64/128/128) or student (16/32/32).
 */
export const CnnSpecSchema = z.strictObject({
  inChannels: z.number().int().min(1).max(1024),
  windowLength: z.number().int().min(8).max(1_000_000),
  numClasses: z.number().int().min(2).max(1000),
  /** Block-1 kernel, stride and symmetric padding (HAR: 5, 1, 2). Blocks 2 and 3 are kernel 8, stride 1, pad 4. */
  kernelSize: z.number().int().min(1).max(256),
  stride: z.number().int().min(1).max(64),
  padding: z.number().int().min(0).max(256),
  dropout: z.number().min(0).max(0.95),
  /** Block-1 width; block 2 is twice this (docs/unikd.md §1.1). */
  midChannels: z.number().int().min(1).max(4096),
  /** Block-3 width = feature dimension. */
  finalChannels: z.number().int().min(1).max(4096),
});
export type CnnSpec = z.infer<typeof CnnSpecSchema>;

/** Sizes of one conv block, derived from the spec with PyTorch's length formulas (docs/unikd.md §1.2). */
export interface BlockShape {
  readonly cin: number;
  readonly cout: number;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
  readonly lenIn: number;
  /** floor((L + 2p − k)/s) + 1 */
  readonly lenConv: number;
  /** MaxPool1d(2, 2, padding 1): floor(L/2) + 1 */
  readonly lenPool: number;
}

export function blockShapes(spec: CnnSpec): BlockShape[] {
  const out: BlockShape[] = [];
  const defs = [
    { cin: spec.inChannels, cout: spec.midChannels, kernel: spec.kernelSize, stride: spec.stride, pad: spec.padding },
    { cin: spec.midChannels, cout: spec.midChannels * 2, kernel: 8, stride: 1, pad: 4 },
    { cin: spec.midChannels * 2, cout: spec.finalChannels, kernel: 8, stride: 1, pad: 4 },
  ];
  let len = spec.windowLength;
  for (const d of defs) {
    const lenConv = Math.floor((len + 2 * d.pad - d.kernel) / d.stride) + 1;
    if (lenConv < 1) {
      throw new SitekdError(ErrorCode.MODEL_SPEC_INVALID, `window length ${spec.windowLength} is too short for kernel ${d.kernel}`);
    }
    const lenPool = Math.floor(lenConv / 2) + 1;
    out.push({ ...d, lenIn: len, lenConv, lenPool });
    len = lenPool;
  }
  return out;
}

export function parseCnnSpec(value: unknown): CnnSpec {
  const r = CnnSpecSchema.safeParse(value);
  if (!r.success) {
    throw new SitekdError(ErrorCode.MODEL_SPEC_INVALID, `invalid model spec: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, {
      details: { issues: r.error.issues },
    });
  }
  const spec = r.data;
  blockShapes(spec);
  return spec;
}

/** The input side of a spec: what an agent must feed the model. */
export interface InputSpec {
  readonly inChannels: number;
  readonly windowLength: number;
  readonly numClasses: number;
}

/** UCI-HAR: 9 channels × 128 samples, 6 classes; kernel 5, stride 1, pad 2, dropout 0.5 (docs/unikd.md §1.2). */
export const HAR_INPUT = { inChannels: 9, windowLength: 128, numClasses: 6, kernelSize: 5, stride: 1, padding: 2, dropout: 0.5 } as const;

export type Role = 'teacher' | 'student';

/** Teacher 64/128/128, student 16/32/32 (docs/unikd.md §1.1). */
export const ROLE_WIDTHS: Record<Role, { midChannels: number; finalChannels: number }> = {
  teacher: { midChannels: 64, finalChannels: 128 },
  student: { midChannels: 16, finalChannels: 32 },
};

/** The spec of a role for an input layout (only the layout's spec fields are read: it may carry more, e.g. class names). */
export function specFor(input: Omit<CnnSpec, 'midChannels' | 'finalChannels'>, role: Role): CnnSpec {
  const { inChannels, windowLength, numClasses, kernelSize, stride, padding, dropout } = input;
  return parseCnnSpec({ inChannels, windowLength, numClasses, kernelSize, stride, padding, dropout, ...ROLE_WIDTHS[role] });
}

/** An input layout derived from a window shape: kernel 5/pad 2 like HAR unless the window is long (FD/SSC-like). */
export function inputFor(inChannels: number, windowLength: number, numClasses: number): Omit<CnnSpec, 'midChannels' | 'finalChannels'> {
  if (windowLength <= 512) return { inChannels, windowLength, numClasses, kernelSize: 5, stride: 1, padding: 2, dropout: 0.5 };
  return { inChannels, windowLength, numClasses, kernelSize: 25, stride: 6, padding: 12, dropout: 0.2 };
}

export function countParams(spec: CnnSpec): number {
  let n = 0;
  for (const b of blockShapes(spec)) n += b.kernel * b.cin * b.cout + 2 * b.cout;
  return n + spec.finalChannels * spec.numClasses + spec.numClasses;
}

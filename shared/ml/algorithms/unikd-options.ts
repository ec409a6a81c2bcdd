import { z } from 'zod';

/**
 * Every divergence between the released UNI-KD code and the paper's intent is a named flag (docs/unikd.md §2.7).
 * Defaults reproduce the released code (`UDA_KD.update`); the `paper` preset flips them all.
 */
export const UniKdOptionsSchema = z.strictObject({
  /** false (code): the "target" KD term reuses the source logits, weighted by target-sample weights. */
  targetKdUsesTargetLogits: z.boolean().default(false),
  /** false (code): L_adv is computed on detached adapted features, so it trains nothing. */
  advGradToStudent: z.boolean().default(false),
  /** 'log10' (code): β rises 0.11 → 0.26; 'ln' (paper, JKU rule): 0.125 → 0.9. */
  betaLog: z.enum(['log10', 'ln']).default('log10'),
  /** false (code): the KD weights w are not detached, so the KD loss also trains D_d and, through the GRL, the student. */
  detachDomainWeights: z.boolean().default(false),
  /** true (code): the student runs a second time on the target batch for D_d (new dropout mask, third BN update). */
  secondTargetForward: z.boolean().default(true),
});
export type UniKdOptions = z.infer<typeof UniKdOptionsSchema>;

export const UNIKD_PRESETS = {
  code: UniKdOptionsSchema.parse({}),
  paper: UniKdOptionsSchema.parse({
    targetKdUsesTargetLogits: true,
    advGradToStudent: true,
    betaLog: 'ln',
    detachDomainWeights: true,
    secondTargetForward: false,
  }),
} as const satisfies Record<string, UniKdOptions>;
export type UniKdPreset = keyof typeof UNIKD_PRESETS;

/** β(epoch) = 0.1·exp(g·epoch), g = LOG(0.9/0.1)/E (docs/unikd.md §2.4). */
export function kdBeta(epoch: number, epochs: number, log: UniKdOptions['betaLog']): number {
  const g = (log === 'log10' ? Math.log10(9) : Math.log(9)) / epochs;
  return 0.1 * Math.exp(g * epoch);
}

/** Short names of the paper-intent flags, for variants like `code+ln+tgt` (benchmarks, CLI). */
const FLAG_ON: Record<string, Partial<UniKdOptions>> = {
  tgt: { targetKdUsesTargetLogits: true },
  adv: { advGradToStudent: true },
  ln: { betaLog: 'ln' },
  detach: { detachDomainWeights: true },
  single: { secondTargetForward: false },
};

/** `code`, `paper`, or a preset plus flags: `code+ln+tgt`. Unknown parts → undefined. */
export function parseUniKdVariant(variant: string): UniKdOptions | undefined {
  const [base, ...flags] = variant.split('+');
  if (base !== 'code' && base !== 'paper') return undefined;
  let opts: UniKdOptions = { ...UNIKD_PRESETS[base] };
  for (const f of flags) {
    const on = FLAG_ON[f];
    if (on === undefined) return undefined;
    opts = { ...opts, ...on };
  }
  return opts;
}

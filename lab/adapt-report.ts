/**
 * What `sitekd adapt-eval` measured, as data (the per-site and per-round figures), the summary figures computed from
 * it, and the markdown tables both the command and `npm run bench:adaptation` print. Pure: no I/O, no tfjs.
 *
 * Every macro-F1 and accuracy is in percent on the site's labelled test split, which the hub never sees. "Points"
 * are differences of those percentages.
 */
import { describeTurn, type Turn } from '../shared/ml/sensor-frame';
import type { RoundTiming } from '../hub/jobs/round';

export interface Figures {
  readonly macroF1: number;
  readonly accuracy: number;
}

export interface RoundRow {
  /** 1-based. */
  readonly round: number;
  /** Windows the site had returned when the round ran. */
  readonly returned: number;
  readonly outcome: 'published' | 'rejected' | 'skipped';
  readonly trainWindows: number;
  readonly heldOut: number;
  /** Held-out windows the agent did not sample uniformly: neither trained on nor judged by the gate. */
  readonly setAside: number;
  readonly versionBefore: string;
  readonly servingBefore: Figures;
  /** The round's candidate (absent when the round was skipped). */
  readonly candidate?: Figures;
  /**
   * The candidate's features with a centroid head from the site's train labels (benchmark only,
   * shared/ml/site-adapt.ts `labelledCentroidHead`): what the best centroid head could do on those features.
   */
  readonly candidateLabelledHead?: Figures;
  /** The turn of the site's sensors the candidate applies (`site-adapt` with turns on; shared/ml/sensor-frame.ts). */
  readonly turn?: Turn;
  readonly versionAfter: string;
  readonly servingAfter: Figures;
  readonly gate?: { readonly candidateAgreement: number; readonly currentAgreement: number; readonly reasons: readonly string[] };
  /** Why the round was skipped. */
  readonly reason?: string;
  readonly timing?: RoundTiming;
  /** The worker's own count for the student's training. */
  readonly trainSeconds?: number;
}

export interface SiteResult {
  /** The site's domain id in the data set. */
  readonly site: string;
  readonly testWindows: number;
  readonly generic: Figures;
  /** The model serving after the last round. */
  readonly final: Figures;
  /** A student trained with the site's train labels (benchmark only). */
  readonly oracle: Figures;
  readonly rounds: readonly RoundRow[];
  readonly stream: { readonly readings: number; readonly windowsCut: number; readonly batches: number; readonly returned: number; readonly loops: number };
}

export interface Summary {
  /** Mean over sites of final − generic macro-F1, in points. */
  readonly meanGain: number;
  /** Published rounds whose student is more than `margin` points below the model it replaced. */
  readonly worsePublished: number;
  /** Rejected candidates more than `margin` points better than the serving model. */
  readonly missedBetter: number;
  readonly margin: number;
  readonly rounds: number;
  readonly published: number;
  readonly rejected: number;
  readonly skipped: number;
  /** Mean over sites of oracle − generic macro-F1. */
  readonly oracleMeanGain: number;
  /** meanGain / oracleMeanGain; null when the oracle gains nothing on average. */
  readonly oracleGapClosed: number | null;
  /** Mean and max wall seconds of a trained round, and the mean of each part (RoundTiming). */
  readonly secondsPerRound: { readonly mean: number; readonly max: number; readonly parts: Omit<RoundTiming, 'total'> } | null;
  readonly sites: ReadonlyArray<{ readonly site: string; readonly generic: number; readonly final: number; readonly gain: number; readonly oracle: number; readonly oracleGain: number; readonly published: number; readonly rounds: number }>;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** The summary figures; `margin` (2 points) is how far off a published or rejected candidate must be to count. */
export function summarize(sites: readonly SiteResult[], margin = 2): Summary {
  const rounds = sites.flatMap((s) => s.rounds);
  const diff = (r: RoundRow): number => (r.candidate?.macroF1 ?? Number.NaN) - r.servingBefore.macroF1;
  const trained = rounds.filter((r) => r.timing !== undefined);
  const part = (k: keyof RoundTiming): number => r2(mean(trained.map((r) => (r.timing as RoundTiming)[k])));
  const meanGain = mean(sites.map((s) => s.final.macroF1 - s.generic.macroF1));
  const oracleMeanGain = mean(sites.map((s) => s.oracle.macroF1 - s.generic.macroF1));
  return {
    meanGain: r2(meanGain),
    worsePublished: rounds.filter((r) => r.outcome === 'published' && diff(r) < -margin).length,
    missedBetter: rounds.filter((r) => r.outcome === 'rejected' && diff(r) > margin).length,
    margin,
    rounds: rounds.length,
    published: rounds.filter((r) => r.outcome === 'published').length,
    rejected: rounds.filter((r) => r.outcome === 'rejected').length,
    skipped: rounds.filter((r) => r.outcome === 'skipped').length,
    oracleMeanGain: r2(oracleMeanGain),
    oracleGapClosed: oracleMeanGain > 0 ? r2(meanGain / oracleMeanGain) : null,
    secondsPerRound: trained.length === 0 ? null : {
      mean: part('total'), max: r2(Math.max(...trained.map((r) => (r.timing as RoundTiming).total))),
      parts: { read: part('read'), reference: part('reference'), student: part('student'), evaluate: part('evaluate') },
    },
    sites: sites.map((s) => ({
      site: s.site, generic: r2(s.generic.macroF1), final: r2(s.final.macroF1), gain: r2(s.final.macroF1 - s.generic.macroF1),
      oracle: r2(s.oracle.macroF1), oracleGain: r2(s.oracle.macroF1 - s.generic.macroF1),
      published: s.rounds.filter((r) => r.outcome === 'published').length, rounds: s.rounds.length,
    })),
  };
}

const f1 = (f: Figures | undefined): string => (f === undefined ? '–' : `${f.macroF1.toFixed(1)} (${f.accuracy.toFixed(1)})`);
const pct = (x: number): string => `${(100 * x).toFixed(1)}`;
const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

/** One site: its generic student and oracle, then one row per round. */
export function renderSite(s: SiteResult): string[] {
  const lines = [
    `### Site ${s.site}`, '',
    `${s.testWindows} labelled test windows; the agent cut ${s.stream.windowsCut} windows from ${s.stream.readings} readings ` +
      `(${s.stream.loops.toFixed(2)} loops of the train recording) and returned ${s.stream.returned} in ${s.stream.batches} batches. ` +
      `Generic student ${f1(s.generic)}, oracle (trained with the site's train labels, median of three) ${f1(s.oracle)}; macro-F1 (accuracy), %.`, '',
    '| round | returned | train / judged / set aside | serving before | candidate | candidate, labelled head | published | serving after | gate agreement: candidate / current | seconds: total (reference + student + evaluate) |',
    '|---:|---:|---:|---|---:|---:|:---:|---|---:|---:|',
  ];
  for (const r of s.rounds) {
    const t = r.timing;
    lines.push(`| ${r.round} | ${r.returned} | ${r.trainWindows} / ${r.heldOut} / ${r.setAside} | ${r.versionBefore}: ${f1(r.servingBefore)} | ${f1(r.candidate)}${r.turn !== undefined && r.turn.degrees !== 0 ? `, turned ${describeTurn(r.turn)}` : ''} | ${f1(r.candidateLabelledHead)} | ` +
      `${r.outcome === 'published' ? 'yes' : r.outcome === 'rejected' ? 'no' : `skipped: ${r.reason ?? ''}`} | ${r.versionAfter}: ${f1(r.servingAfter)} | ` +
      `${r.gate ? `${pct(r.gate.candidateAgreement)} / ${pct(r.gate.currentAgreement)}` : '–'} | ` +
      `${t ? `${t.total.toFixed(1)} (${t.reference.toFixed(1)} + ${t.student.toFixed(1)} + ${t.evaluate.toFixed(1)})` : '–'} |`);
  }
  return lines;
}

/** The summary: one row per site, then the figures. */
export function renderSummary(sum: Summary): string[] {
  const t = sum.secondsPerRound;
  return [
    '| site | generic | after the last round | gain | oracle | oracle gain | published / rounds |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...sum.sites.map((s) => `| ${s.site} | ${s.generic.toFixed(1)} | ${s.final.toFixed(1)} | ${signed(s.gain)} | ${s.oracle.toFixed(1)} | ${signed(s.oracleGain)} | ${s.published} / ${s.rounds} |`),
    '',
    `meanGain ${signed(sum.meanGain)} points (oracle ${signed(sum.oracleMeanGain)}; oracleGapClosed ${sum.oracleGapClosed === null ? '–' : sum.oracleGapClosed.toFixed(2)}), ` +
      `worsePublished ${sum.worsePublished}, missedBetter ${sum.missedBetter} (margin ${sum.margin} points); ` +
      `${sum.rounds} rounds: ${sum.published} published, ${sum.rejected} rejected, ${sum.skipped} skipped.`,
    t === null ? 'No round trained.'
      : `Seconds per trained round: mean ${t.mean.toFixed(1)}, max ${t.max.toFixed(1)}; of the mean, reading the store ${t.parts.read.toFixed(1)}, ` +
        `worker start + adapted teacher ${t.parts.reference.toFixed(1)}, student ${t.parts.student.toFixed(1)}, gate evaluation + reply ${t.parts.evaluate.toFixed(1)}.`,
  ];
}

/**
 * Scores the agents' predictions against the labels the simulator knows.
 *
 * A prediction names the time of its window's first reading (`windowStart`, the simulated clock). The simulator sent
 * reading k at `t0 + k · periodMs`, so the window covers readings [k0, k0 + windowLength) with
 * k0 = round((windowStart − t0) / periodMs). Every reading has a label (`LabelSource`): in the recorded order of a HAR
 * subject each sample carries the label of the window it was taken from; back to back, the label of its window. The
 * truth of a prediction is the majority label of its window's readings, counted sample by sample, so an agent window
 * that spans an activity change (or, back to back, two source windows) is scored by the label covering most of it; a
 * tie is skipped (counted, not scored). A window that reaches before the first or beyond the last reading sent is
 * skipped as `outOfRange`.
 *
 * Accuracy is kept per (site, modelVersion), so the effect of each new student shows as its own line. Nothing here
 * throws on input from the broker: undecodable or malformed payloads are counted by error code (docs/protocol.md).
 */
import type { Clock } from '../shared/clock';
import { decode } from '../shared/protocol/codec';
import { PredictionSchema, type Prediction } from '../shared/protocol/messages';
import { parseTopic, payloadMatchesTopic, ROOT_TOPIC } from '../shared/protocol/topics';
import type { LabelSource } from './site-stream';
import { PredictionRate, RATE_BUCKET_MS } from './prediction-rate';
import type { SourceKind } from './sources';

/** What the scoreboard knows of one simulated site. */
export interface ScoreSiteInfo {
  readonly site: string;
  readonly kind: SourceKind;
  readonly subject: string;
  readonly description: string;
  readonly classNames?: readonly string[];
  /** Simulated time of reading 0 (ms). */
  readonly t0: number;
  readonly periodMs: number;
  readonly labels: LabelSource;
  /** Readings issued so far: the scoreable range is [0, readingsIssued()). */
  readingsIssued(): number;
  /** Readings the transport accepted (shown in summaries); default readingsIssued. */
  readingsSent?(): number;
}

export interface ModelScore {
  readonly modelVersion: string;
  /** Scored predictions that matched the majority label. */
  readonly correct: number;
  /** Scored predictions (ties and out-of-range windows excluded). */
  readonly total: number;
  /** correct / total, or null before the first scored prediction. */
  readonly accuracy: number | null;
  /** Valid predictions seen from this version (scored or not). */
  readonly predictions: number;
  /** Wall-clock ms of the first and last prediction of this version. */
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
}

/** The JSON the simulator publishes on `{root}/{site}/score`. */
export interface SiteScore {
  readonly site: string;
  /** Where the signal comes from: `har` (a real subject) or `synthetic`. */
  readonly source: SourceKind;
  readonly subject: string;
  readonly description: string;
  /** Wall-clock ms of this summary. */
  readonly ts: number;
  readonly readingsSent: number;
  /** Valid predictions seen (every model version). */
  readonly predictions: number;
  /** Predictions per second over the last few seconds (wall clock). */
  readonly windowsPerSec: number;
  /** The model version of the most recent prediction, or null. */
  readonly modelVersion: string | null;
  /** Over every version: correct / total, or null. */
  readonly accuracy: number | null;
  readonly correct: number;
  readonly total: number;
  /** One entry per model version, in order of first appearance. */
  readonly models: readonly ModelScore[];
  /** Valid predictions that could not be scored. */
  readonly skipped: { readonly tie: number; readonly outOfRange: number };
  /** Payloads dropped, by error code (`SITEKD_ERR_MSG_DECODE`, `SITEKD_ERR_MSG_SCHEMA`, `topic-mismatch`, …). */
  readonly dropped: Readonly<Record<string, number>>;
}

export type ScoreOutcome =
  | { readonly kind: 'correct' | 'wrong'; readonly site: string; readonly modelVersion: string; readonly truth: number }
  | { readonly kind: 'tie' | 'outOfRange'; readonly site: string; readonly modelVersion: string }
  | { readonly kind: 'dropped'; readonly site?: string; readonly code: string }
  | { readonly kind: 'unknownSite'; readonly site: string };

export interface ScoreboardOptions {
  /** Wall-clock time of predictions, for the rates and first/last seen (only `now` is read). */
  readonly clock: Pick<Clock, 'now'>;
  /** Readings per prediction window (default 128, the HAR window). */
  readonly windowLength?: number;
  /** Protocol root of the prediction topics (default `sitekd/v1`). */
  readonly protocolRoot?: string;
  /** Span of the windows/s rate (default 5000 ms). */
  readonly rateWindowMs?: number;
  /** Model versions kept per site; the oldest is forgotten beyond this (default 64). */
  readonly maxVersions?: number;
  /** Largest prediction payload decoded (default 64 KiB; a Prediction is < 20 KiB even with 1000 classes). */
  readonly maxPayloadBytes?: number;
}

const MAX_DROP_CODES = 64;

interface VersionState {
  correct: number;
  total: number;
  predictions: number;
  firstSeenAt: number;
  lastSeenAt: number;
}

interface SiteState {
  readonly info: ScoreSiteInfo;
  readonly versions: Map<string, VersionState>;
  predictions: number;
  tie: number;
  outOfRange: number;
  lastVersion: string | null;
  readonly dropped: Map<string, number>;
  readonly rate: PredictionRate;
}

export class SimScoreboard {
  private readonly sites = new Map<string, SiteState>();
  private readonly clock: Pick<Clock, 'now'>;
  private readonly windowLength: number;
  private readonly protocolRoot: string;
  private readonly rateWindowMs: number;
  private readonly maxVersions: number;
  private readonly maxPayloadBytes: number;
  /** Payloads on topics that are not a known site's predictions, by code. */
  private readonly droppedElsewhere = new Map<string, number>();
  private unknownSite = 0;

  constructor(opts: ScoreboardOptions) {
    this.clock = opts.clock;
    this.windowLength = opts.windowLength ?? 128;
    this.protocolRoot = opts.protocolRoot ?? ROOT_TOPIC;
    this.rateWindowMs = Math.max(RATE_BUCKET_MS, opts.rateWindowMs ?? 5000);
    this.maxVersions = Math.max(1, opts.maxVersions ?? 64);
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 64 * 1024;
  }

  addSite(info: ScoreSiteInfo): void {
    this.sites.set(info.site, {
      info,
      versions: new Map(),
      predictions: 0,
      tie: 0,
      outOfRange: 0,
      lastVersion: null,
      dropped: new Map(),
      rate: new PredictionRate(this.rateWindowMs),
    });
  }

  get siteIds(): string[] {
    return [...this.sites.keys()];
  }

  /** Counts of payloads that named no known site: `{unknownSite, dropped}`. */
  get elsewhere(): { readonly unknownSite: number; readonly dropped: Readonly<Record<string, number>> } {
    return { unknownSite: this.unknownSite, dropped: Object.fromEntries(this.droppedElsewhere) };
  }

  /** An MQTT message on a predictions topic. Never throws. */
  handleMessage(topic: string, payload: Uint8Array): ScoreOutcome {
    const t = parseTopic(topic, this.protocolRoot);
    if (t === undefined || t.kind !== 'predictions') return this.drop(undefined, 'topic-unexpected');
    const state = this.sites.get(t.site);
    if (state === undefined) {
      this.unknownSite++;
      return { kind: 'unknownSite', site: t.site };
    }
    const r = decode(PredictionSchema, payload, { maxBytes: this.maxPayloadBytes });
    if (!r.ok) return this.drop(state, r.error.code);
    if (!payloadMatchesTopic(t, r.value)) return this.drop(state, 'topic-mismatch');
    return this.score(r.value);
  }

  /** Scores a decoded prediction (its `site` picks the site). Never throws. */
  score(p: Prediction): ScoreOutcome {
    const state = this.sites.get(p.site);
    if (state === undefined) {
      this.unknownSite++;
      return { kind: 'unknownSite', site: p.site };
    }
    const now = this.clock.now();
    state.predictions++;
    state.lastVersion = p.modelVersion;
    state.rate.record(now);

    const v = this.version(state, p.modelVersion, now);
    v.predictions++;
    v.lastSeenAt = now;

    const { info } = state;
    const k0 = Math.round((p.windowStart - info.t0) / info.periodMs);
    const issued = info.readingsIssued();
    if (k0 < 0 || k0 + this.windowLength > issued) {
      state.outOfRange++;
      return { kind: 'outOfRange', site: p.site, modelVersion: p.modelVersion };
    }
    const m = info.labels.majorityLabel(k0, this.windowLength);
    if (m === undefined) {
      state.outOfRange++;
      return { kind: 'outOfRange', site: p.site, modelVersion: p.modelVersion };
    }
    if (m.kind === 'tie') {
      state.tie++;
      return { kind: 'tie', site: p.site, modelVersion: p.modelVersion };
    }
    v.total++;
    const correct = p.cls === m.label;
    if (correct) v.correct++;
    return { kind: correct ? 'correct' : 'wrong', site: p.site, modelVersion: p.modelVersion, truth: m.label };
  }

  /** The summary of one site (undefined for an unknown site). */
  summary(site: string): SiteScore | undefined {
    const s = this.sites.get(site);
    if (s === undefined) return undefined;
    const now = this.clock.now();
    let correct = 0;
    let total = 0;
    const models: ModelScore[] = [];
    for (const [modelVersion, v] of s.versions) {
      correct += v.correct;
      total += v.total;
      models.push({
        modelVersion,
        correct: v.correct,
        total: v.total,
        accuracy: v.total > 0 ? v.correct / v.total : null,
        predictions: v.predictions,
        firstSeenAt: v.firstSeenAt,
        lastSeenAt: v.lastSeenAt,
      });
    }
    return {
      site,
      source: s.info.kind,
      subject: s.info.subject,
      description: s.info.description,
      ts: now,
      readingsSent: s.info.readingsSent?.() ?? s.info.readingsIssued(),
      predictions: s.predictions,
      windowsPerSec: s.rate.perSecond(now),
      modelVersion: s.lastVersion,
      accuracy: total > 0 ? correct / total : null,
      correct,
      total,
      models,
      skipped: { tie: s.tie, outOfRange: s.outOfRange },
      dropped: Object.fromEntries(s.dropped),
    };
  }

  summaries(): SiteScore[] {
    return this.siteIds.map((id) => this.summary(id) as SiteScore);
  }

  private version(state: SiteState, modelVersion: string, now: number): VersionState {
    let v = state.versions.get(modelVersion);
    if (v === undefined) {
      v = { correct: 0, total: 0, predictions: 0, firstSeenAt: now, lastSeenAt: now };
      state.versions.set(modelVersion, v);
      if (state.versions.size > this.maxVersions) {
        const oldest = state.versions.keys().next().value as string;
        state.versions.delete(oldest);
      }
    }
    return v;
  }

  private drop(state: SiteState | undefined, code: string): ScoreOutcome {
    const map = state?.dropped ?? this.droppedElsewhere;
    // Codes come from our decoder, but keep the map bounded anyway.
    if (map.has(code) || map.size < MAX_DROP_CODES) map.set(code, (map.get(code) ?? 0) + 1);
    return state === undefined ? { kind: 'dropped', code } : { kind: 'dropped', site: state.info.site, code };
  }
}

/**
 * What sim/simulator.ts takes, checked and with its defaults filled in once, at construction: a speed, rate or topic
 * root that cannot work is a CONFIG_INVALID before anything is published.
 */
import type { Clock } from '../shared/clock';
import { ErrorCode, SitekdError } from '../shared/errors';
import { ROOT_TOPIC, isValidPublishTopic } from '../shared/protocol/topics';
import type { ReadingFormat } from './formats';
import type { SimSite } from './sources';

/** The part of MqttTransport the simulator uses (MqttTransport satisfies it). */
export interface SimTransport {
  publish(topic: string, payload: Uint8Array, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void | Promise<void>, qos?: 0 | 1): Promise<void>;
  unsubscribe(filter: string): Promise<void>;
  readonly connected: boolean;
}

export interface SimulatorOptions {
  readonly sites: readonly SimSite[];
  readonly transport: SimTransport;
  /** Simulated seconds per wall second (default 1 = real time). */
  readonly speed?: number;
  readonly format?: ReadingFormat;
  /** Readings go to `{topicRoot}/{site}/imu`, scores to `{topicRoot}/{site}/score`. Default `sim`. */
  readonly topicRoot?: string;
  /** Root of the protocol topics the predictions arrive on (default `sitekd/v1`). */
  readonly protocolRoot?: string;
  /** Cap on readings per wall second over all sites (default 5000). */
  readonly maxMessagesPerSec?: number;
  /** Wall ms between send ticks (default 20). */
  readonly tickMs?: number;
  /** Wall ms between score publications (default 2000; 0 = never). */
  readonly scoreIntervalMs?: number;
  /** Publish scores retained (default false). */
  readonly retainScores?: boolean;
  /** Simulated time of reading 0; default the clock's now, rounded up to the sample grid. */
  readonly startTime?: number;
  /** Stop streaming after this many readings per site (default: never). */
  readonly maxReadingsPerSite?: number;
  /** Publishes waiting for the transport, at most (default 2000). */
  readonly maxInFlight?: number;
  /** Re-base the schedule when it lags by more than this much wall time (default 1000 ms). */
  readonly maxLagMs?: number;
  /** Readings per prediction window for scoring (default: the sites' window length). */
  readonly predictionWindowLength?: number;
  /** Wall time of the schedule and the scores, and the send and score timers (sim/cli.ts passes systemClock). */
  readonly clock: Clock;
  /** Called with publish and subscribe failures (the simulator counts them and carries on). */
  readonly onError?: (err: unknown) => void;
}

/** The options checked, with every default applied. */
export interface SimulatorSettings {
  readonly periodMs: number;
  readonly requestedSpeed: number;
  /** The speed actually used (lowered when the requested one would exceed maxMessagesPerSec). */
  readonly effectiveSpeed: number;
  readonly format: ReadingFormat;
  readonly topicRoot: string;
  readonly protocolRoot: string;
  readonly tickMs: number;
  readonly scoreIntervalMs: number;
  readonly retainScores: boolean;
  readonly maxReadings: number;
  readonly maxInFlight: number;
  readonly maxLagMs: number;
  readonly startTime: number | undefined;
  readonly predictionWindowLength: number;
  readonly onError: (err: unknown) => void;
}

const DEFAULT_MAX_RATE = 5000;

function config(message: string): SitekdError {
  return new SitekdError(ErrorCode.CONFIG_INVALID, message);
}

/** Throws CONFIG_INVALID for sites, a speed, a rate or a topic root the simulator cannot use. */
export function resolveSimulatorSettings(opts: SimulatorOptions): SimulatorSettings {
  if (opts.sites.length === 0) throw config('the simulator needs at least one site');
  const first = opts.sites[0] as SimSite;
  for (const s of opts.sites) {
    if (s.samplingRateHz !== first.samplingRateHz || s.stream.channels !== first.stream.channels) {
      throw config(`every site must share one sampling rate and channel count (${s.site} differs from ${first.site})`);
    }
  }
  if (new Set(opts.sites.map((s) => s.site)).size !== opts.sites.length) throw config('site ids must be unique');
  const speed = opts.speed ?? 1;
  if (!(Number.isFinite(speed) && speed > 0)) throw config(`speed must be a positive number, got ${speed}`);
  const maxRate = opts.maxMessagesPerSec ?? DEFAULT_MAX_RATE;
  if (!(Number.isFinite(maxRate) && maxRate > 0)) throw config(`maxMessagesPerSec must be a positive number, got ${maxRate}`);
  const topicRoot = opts.topicRoot ?? 'sim';
  if (!isValidPublishTopic(`${topicRoot}/x/imu`) || topicRoot.startsWith('/') || topicRoot.endsWith('/')) {
    throw config(`topic root "${topicRoot}" is not usable: no + # or leading $, no leading or trailing /`);
  }
  const periodMs = 1000 / first.samplingRateHz;
  const realTimeRate = (opts.sites.length * 1000) / periodMs;
  const tickMs = Math.max(1, opts.tickMs ?? 20);
  return {
    periodMs,
    requestedSpeed: speed,
    effectiveSpeed: Math.min(speed, maxRate / realTimeRate),
    format: opts.format ?? 'json',
    topicRoot,
    protocolRoot: opts.protocolRoot ?? ROOT_TOPIC,
    tickMs,
    scoreIntervalMs: opts.scoreIntervalMs ?? 2000,
    retainScores: opts.retainScores ?? false,
    maxReadings: opts.maxReadingsPerSite ?? Infinity,
    maxInFlight: Math.max(1, opts.maxInFlight ?? 2000),
    maxLagMs: Math.max(tickMs, opts.maxLagMs ?? 1000),
    startTime: opts.startTime,
    predictionWindowLength: opts.predictionWindowLength ?? first.stream.windowLength,
    onError: opts.onError ?? (() => undefined),
  };
}

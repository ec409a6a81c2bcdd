/**
 * The live part of `sitekd sim`: streams every site's signal over MQTT and scores the predictions that come back.
 *
 * Time. Reading k of every site carries the simulated time `t0 + k · periodMs` (t0 is aligned to the sample grid, so
 * an agent cutting windows on the grid k · periodMs since the epoch sees exact hits). Wall time advances periodMs /
 * speed per reading. A timer tick (every `tickMs`) sends every reading that is due, each as its own QoS 0 message,
 * sites interleaved, so the stream stays smooth at any speed. The total rate is capped (`maxMessagesPerSec`, default
 * 5000/s): a speed above the cap is lowered, and the simulated clock keeps its 20 ms steps.
 *
 * Back-pressure. At most `maxInFlight` publishes wait for the transport at once; beyond that a tick sends nothing more
 * and the stream lags. When it lags more than `maxLagMs` of wall time, the schedule is re-based instead of bursting to
 * catch up, so timestamps never jump. While the transport is disconnected the readings that fall due are dropped (a
 * real sensor does not wait for the broker), counted per site; the simulated clock goes on.
 *
 * Everything is deterministic given the sites (their streams are seeded) and the clock, which is injected and also
 * runs the timers; `tick()` can be called by hand.
 */
import { ErrorCode, SitekdError } from '../shared/errors';
import { ROOT_TOPIC, isValidPublishTopic, sub } from '../shared/protocol/topics';
import { formatReading, type ReadingFormat } from './formats';
import { withTimeout, type Clock, type TimerHandle } from '../shared/clock';
import { SimScoreboard, type SiteScore } from './scoreboard';
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

export interface SiteStats {
  readonly site: string;
  /** Readings produced (published, failed or dropped). */
  readonly readingsIssued: number;
  /** Readings the transport accepted. */
  readonly readingsSent: number;
  /** Readings that fell due while disconnected. */
  readonly readingsDropped: number;
  readonly publishErrors: number;
}

interface SiteRun {
  readonly sim: SimSite;
  readonly topic: string;
  readonly scoreTopic: string;
  readonly values: Float32Array;
  sent: number;
  dropped: number;
  errors: number;
}

const DEFAULT_MAX_RATE = 5000;

function config(message: string): SitekdError {
  return new SitekdError(ErrorCode.CONFIG_INVALID, message);
}

export class Simulator {
  readonly scoreboard: SimScoreboard;
  /** The speed actually used (lowered when the requested one would exceed maxMessagesPerSec). */
  readonly effectiveSpeed: number;
  readonly requestedSpeed: number;
  readonly periodMs: number;
  readonly format: ReadingFormat;
  readonly topicRoot: string;
  private readonly runs: SiteRun[];
  private readonly transport: SimTransport;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly scoreIntervalMs: number;
  private readonly retainScores: boolean;
  private readonly maxReadings: number;
  private readonly maxInFlight: number;
  private readonly maxLagMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly filters: string[];
  private readonly pending = new Set<Promise<void>>();
  private t0Value: number | undefined;
  private readonly startTimeOpt: number | undefined;
  /** Next reading index (every site moves in lockstep). */
  private k = 0;
  /** Wall time at which reading `baseK` was due. */
  private wallOrigin = 0;
  private baseK = 0;
  private tickTimer: TimerHandle | undefined;
  private scoreTimer: TimerHandle | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private finishedResolve: (() => void) | undefined;
  /** Resolves when every site has sent `maxReadingsPerSite` readings or the simulator stops. */
  readonly finished: Promise<void>;

  constructor(opts: SimulatorOptions) {
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
    this.topicRoot = opts.topicRoot ?? 'sim';
    if (!isValidPublishTopic(`${this.topicRoot}/x/imu`) || this.topicRoot.startsWith('/') || this.topicRoot.endsWith('/')) {
      throw config(`topic root "${this.topicRoot}" is not usable: no + # or leading $, no leading or trailing /`);
    }
    this.periodMs = 1000 / first.samplingRateHz;
    this.requestedSpeed = speed;
    const realTimeRate = (opts.sites.length * 1000) / this.periodMs;
    this.effectiveSpeed = Math.min(speed, maxRate / realTimeRate);
    this.format = opts.format ?? 'json';
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.tickMs = Math.max(1, opts.tickMs ?? 20);
    this.scoreIntervalMs = opts.scoreIntervalMs ?? 2000;
    this.retainScores = opts.retainScores ?? false;
    this.maxReadings = opts.maxReadingsPerSite ?? Infinity;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 2000);
    this.maxLagMs = Math.max(this.tickMs, opts.maxLagMs ?? 1000);
    this.onError = opts.onError ?? (() => undefined);
    this.startTimeOpt = opts.startTime;
    const protocolRoot = opts.protocolRoot ?? ROOT_TOPIC;
    this.scoreboard = new SimScoreboard({
      clock: this.clock,
      protocolRoot,
      windowLength: opts.predictionWindowLength ?? first.stream.windowLength,
    });
    this.runs = opts.sites.map((s) => ({
      sim: s,
      topic: `${this.topicRoot}/${s.site}/imu`,
      scoreTopic: `${this.topicRoot}/${s.site}/score`,
      values: new Float32Array(s.stream.channels),
      sent: 0,
      dropped: 0,
      errors: 0,
    }));
    this.filters = opts.sites.map((s) => sub.sitePredictions(s.site, protocolRoot));
    // t0 is fixed only by start(); the scoreboard reads it through this getter.
    const sim = this;
    for (const run of this.runs) {
      this.scoreboard.addSite({
        site: run.sim.site,
        kind: run.sim.kind,
        subject: run.sim.subject,
        description: run.sim.description,
        classNames: run.sim.classNames,
        get t0(): number {
          return sim.t0;
        },
        periodMs: this.periodMs,
        labels: run.sim.stream,
        readingsIssued: () => this.k,
        readingsSent: () => run.sent,
      });
    }
    this.finished = new Promise((resolve) => {
      this.finishedResolve = resolve;
    });
  }

  /** Simulated time of reading 0 (fixed by start()). */
  get t0(): number {
    return this.t0Value ?? this.alignedStart();
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Readings topic of a site. */
  readingsTopic(site: string): string {
    return `${this.topicRoot}/${site}/imu`;
  }

  scoreTopic(site: string): string {
    return `${this.topicRoot}/${site}/score`;
  }

  /** Next reading index, i.e. readings issued per site so far. */
  get readingsIssued(): number {
    return this.k;
  }

  /** Subscribes to the sites' predictions and starts streaming. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw config('a simulator starts once');
    this.state = 'running';
    this.t0Value = this.alignedStart();
    for (const filter of this.filters) {
      await this.transport.subscribe(filter, (topic, payload) => void this.scoreboard.handleMessage(topic, payload), 0);
    }
    if (this.state !== 'running') return; // stopped while subscribing
    this.wallOrigin = this.clock.now();
    this.baseK = 0;
    this.tick();
    this.tickTimer = this.clock.every(this.tickMs, () => this.tick());
    if (this.scoreIntervalMs > 0) this.scoreTimer = this.clock.every(this.scoreIntervalMs, () => this.publishScores());
  }

  /** Sends every reading due by now. Called by the timer; tests may call it directly. */
  tick(): void {
    if (this.state !== 'running') return;
    const now = this.clock.now();
    const msPerReading = this.periodMs / this.effectiveSpeed;
    // Readings due: reading baseK at wallOrigin, one more every msPerReading (the first one at once).
    let due = Math.min(this.maxReadings, this.baseK + Math.floor((now - this.wallOrigin) / msPerReading + 1e-9) + 1);
    if ((due - this.k) * msPerReading > this.maxLagMs) {
      // Too far behind (a stalled event loop or a slow broker): re-base rather than burst.
      this.baseK = this.k;
      this.wallOrigin = now;
      due = Math.min(this.maxReadings, this.k + 1);
    }
    const connected = this.transport.connected;
    while (this.k < due) {
      if (connected && this.pending.size >= this.maxInFlight) break;
      this.sendReading(this.k, connected);
      this.k++;
    }
    if (this.k >= this.maxReadings) this.finishStreaming();
  }

  /** Per-site counters. */
  stats(): SiteStats[] {
    return this.runs.map((r) => ({ site: r.sim.site, readingsIssued: this.k, readingsSent: r.sent, readingsDropped: r.dropped, publishErrors: r.errors }));
  }

  summaries(): SiteScore[] {
    return this.scoreboard.summaries();
  }

  /** Publishes each site's score summary (JSON) on `{topicRoot}/{site}/score`. */
  publishScores(): void {
    if (!this.transport.connected) return;
    for (const run of this.runs) {
      const s = this.scoreboard.summary(run.sim.site);
      if (s === undefined) continue;
      const bytes = new TextEncoder().encode(JSON.stringify(s));
      this.track(this.transport.publish(run.scoreTopic, bytes, { qos: 0, retain: this.retainScores }));
    }
  }

  /** Stops streaming, waits for pending publishes, publishes the final scores and unsubscribes. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    this.clearTimers();
    this.finishedResolve?.();
    if (!wasRunning) return;
    await this.settle();
    if (this.scoreIntervalMs > 0) this.publishScores();
    await this.settle();
    for (const filter of this.filters) {
      try {
        await this.transport.unsubscribe(filter);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private alignedStart(): number {
    if (this.startTimeOpt !== undefined) return this.startTimeOpt;
    return Math.ceil(this.clock.now() / this.periodMs) * this.periodMs;
  }

  private sendReading(k: number, connected: boolean): void {
    const ts = this.t0 + k * this.periodMs;
    for (const run of this.runs) {
      if (!connected) {
        run.dropped++;
        continue;
      }
      const values = run.sim.stream.valuesAt(k, run.values);
      const bytes = formatReading(this.format, ts, values);
      this.track(
        this.transport.publish(run.topic, bytes, { qos: 0, retain: false }).then(
          () => {
            run.sent++;
          },
          (err: unknown) => {
            run.errors++;
            throw err;
          },
        ),
      );
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p.then(
      () => undefined,
      (err: unknown) => {
        try {
          this.onError(err);
        } catch {
          // An error listener must not break the stream.
        }
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** Waits for pending publishes, at most `timeoutMs` (a publish cut by a lost connection may never settle). */
  private async settle(timeoutMs = 3000): Promise<void> {
    const drained = (async (): Promise<void> => {
      while (this.pending.size > 0) await Promise.all([...this.pending]);
    })();
    await withTimeout(this.clock, drained, timeoutMs);
  }

  private finishStreaming(): void {
    this.tickTimer?.cancel();
    this.tickTimer = undefined;
    this.finishedResolve?.();
  }

  private clearTimers(): void {
    this.tickTimer?.cancel();
    this.scoreTimer?.cancel();
    this.tickTimer = undefined;
    this.scoreTimer = undefined;
  }
}

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
import { sub } from '../shared/protocol/topics';
import { formatReading, type ReadingFormat } from './formats';
import type { Clock, TimerHandle } from '../shared/clock';
import { PublishTracker } from './publish-tracker';
import { SimScoreboard, type SiteScore } from './scoreboard';
import { resolveSimulatorSettings, type SimTransport, type SimulatorOptions, type SimulatorSettings } from './simulator-options';
import type { SimSite } from './sources';

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

export class Simulator {
  readonly scoreboard: SimScoreboard;
  /** The speed actually used (lowered when the requested one would exceed maxMessagesPerSec). */
  readonly effectiveSpeed: number;
  readonly requestedSpeed: number;
  readonly periodMs: number;
  readonly format: ReadingFormat;
  readonly topicRoot: string;
  private readonly cfg: SimulatorSettings;
  private readonly runs: SiteRun[];
  private readonly transport: SimTransport;
  private readonly clock: Clock;
  private readonly filters: string[];
  private readonly publishes: PublishTracker;
  private t0Value: number | undefined;
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

  /** Throws CONFIG_INVALID for options the simulator cannot use (sim/simulator-options.ts). */
  constructor(opts: SimulatorOptions) {
    const cfg = (this.cfg = resolveSimulatorSettings(opts));
    this.topicRoot = cfg.topicRoot;
    this.periodMs = cfg.periodMs;
    this.requestedSpeed = cfg.requestedSpeed;
    this.effectiveSpeed = cfg.effectiveSpeed;
    this.format = cfg.format;
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.publishes = new PublishTracker(opts.clock, cfg.onError);
    this.scoreboard = new SimScoreboard({ clock: this.clock, protocolRoot: cfg.protocolRoot, windowLength: cfg.predictionWindowLength });
    this.runs = opts.sites.map((s) => ({
      sim: s,
      topic: `${this.topicRoot}/${s.site}/imu`,
      scoreTopic: `${this.topicRoot}/${s.site}/score`,
      values: new Float32Array(s.stream.channels),
      sent: 0,
      dropped: 0,
      errors: 0,
    }));
    this.filters = opts.sites.map((s) => sub.sitePredictions(s.site, cfg.protocolRoot));
    for (const run of this.runs) this.addToScoreboard(run);
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
    if (this.state !== 'new') throw new SitekdError(ErrorCode.CONFIG_INVALID, 'a simulator starts once');
    this.state = 'running';
    this.t0Value = this.alignedStart();
    for (const filter of this.filters) {
      await this.transport.subscribe(filter, (topic, payload) => void this.scoreboard.handleMessage(topic, payload), 0);
    }
    if (this.state !== 'running') return; // stopped while subscribing
    this.wallOrigin = this.clock.now();
    this.baseK = 0;
    this.tick();
    this.tickTimer = this.clock.every(this.cfg.tickMs, () => this.tick());
    if (this.cfg.scoreIntervalMs > 0) this.scoreTimer = this.clock.every(this.cfg.scoreIntervalMs, () => this.publishScores());
  }

  /** Sends every reading due by now. Called by the timer; tests may call it directly. */
  tick(): void {
    if (this.state !== 'running') return;
    const now = this.clock.now();
    const msPerReading = this.periodMs / this.effectiveSpeed;
    // Readings due: reading baseK at wallOrigin, one more every msPerReading (the first one at once).
    let due = Math.min(this.cfg.maxReadings, this.baseK + Math.floor((now - this.wallOrigin) / msPerReading + 1e-9) + 1);
    if ((due - this.k) * msPerReading > this.cfg.maxLagMs) {
      // Too far behind (a stalled event loop or a slow broker): re-base rather than burst.
      this.baseK = this.k;
      this.wallOrigin = now;
      due = Math.min(this.cfg.maxReadings, this.k + 1);
    }
    const connected = this.transport.connected;
    while (this.k < due) {
      if (connected && this.publishes.size >= this.cfg.maxInFlight) break;
      this.sendReading(this.k, connected);
      this.k++;
    }
    if (this.k >= this.cfg.maxReadings) this.finishStreaming();
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
      this.publishes.track(this.transport.publish(run.scoreTopic, bytes, { qos: 0, retain: this.cfg.retainScores }));
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
    await this.publishes.settle();
    if (this.cfg.scoreIntervalMs > 0) this.publishScores();
    await this.publishes.settle();
    for (const filter of this.filters) {
      try {
        await this.transport.unsubscribe(filter);
      } catch (err) {
        this.cfg.onError(err);
      }
    }
  }

  private alignedStart(): number {
    if (this.cfg.startTime !== undefined) return this.cfg.startTime;
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
      this.publishes.track(
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

  /** The scoreboard reads t0 through a getter: start() fixes it only later. */
  private addToScoreboard(run: SiteRun): void {
    const sim = this;
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

/**
 * `sitekd sim`: publishes live 9-channel 50 Hz sensor streams for N sites over MQTT (real UCI-HAR subjects when the
 * data is there, synthetic shifted sites otherwise), scores the predictions agents publish for those sites, and prints
 * a compact line per site every few seconds (stderr). Scores also go out as JSON on `{topic-root}/{site}/score`.
 *
 * A HAR subject plays, by default (`--order recorded`), as its continuous recordings rebuilt from the train + test
 * windows by their exact 50 % overlaps (sim/recording.ts), with a label per sample; `--order file|shuffle|grouped`
 * play the windows back to back instead (the default for synthetic sites, whose windows are independent).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { intArg, numberArg, parseCommandArgs, type OptionTable } from '../shared/cli/args';
import { systemClock } from '../shared/clock';
import { MqttTransport } from '../shared/transport/mqtt-transport';
import { READING_FORMATS, type ReadingFormat } from './formats';
import type { SiteScore } from './scoreboard';
import { Simulator } from './simulator';
import { loadSimSites, SPLIT_CHOICES, WINDOW_ORDERS, type SplitChoice, type WindowOrder } from './sources';
import type { Command, CommandIo } from '../shared/cli/common';

export const DEFAULT_SIM_BROKER = 'mqtt://127.0.0.1:1883';

const table = {
  sites: { type: 'string', description: 'number of simulated sites', placeholder: 'n' },
  data: { type: 'string', description: 'HAR dataset directory; default ../shared/data/HAR when present, else synthetic sites', placeholder: 'dir' },
  synthetic: { type: 'boolean', description: 'use synthetic shifted sites even when HAR data exists' },
  subjects: { type: 'string', description: 'HAR subjects in site order, comma-separated (default: scenario targets 11,13,16,18,23,…)', placeholder: 'ids' },
  split: {
    type: 'string',
    description: 'windows to stream: test, train or both (default: both for --order recorded, test otherwise)',
    placeholder: 'split',
  },
  order: {
    type: 'string',
    description:
      "recorded: each subject's continuous recordings, rebuilt by chaining its windows on their exact 50 % overlaps, each sample once, " +
      'labelled per sample (default for HAR); file (default for synthetic), shuffle (seeded, new each loop) or grouped (by label): windows back to back',
    placeholder: 'order',
  },
  seed: { type: 'string', description: 'seed of the shuffled order', default: '0', placeholder: 'n' },
  speed: { type: 'string', description: 'simulated seconds per second (1 = real time, 50 readings/s per site)', default: '1', placeholder: 'x' },
  broker: { type: 'string', description: 'MQTT broker URL', default: DEFAULT_SIM_BROKER, placeholder: 'url' },
  username: { type: 'string', description: 'MQTT user name', placeholder: 'name' },
  password: { type: 'string', description: 'MQTT password (or env SITEKD_MQTT_PASSWORD)', placeholder: 'secret' },
  format: { type: 'string', description: 'reading payload: json, csv or msgpack', default: 'json', placeholder: 'fmt' },
  'topic-root': { type: 'string', description: 'readings go to {root}/{site}/imu, scores to {root}/{site}/score', default: 'sim', placeholder: 'root' },
  'site-prefix': { type: 'string', description: 'site ids are {prefix}1 … {prefix}N', default: 'site-', placeholder: 'prefix' },
  duration: { type: 'string', description: 'stop after this many wall-clock seconds (default: run until Ctrl-C)', placeholder: 's' },
  'max-rate': { type: 'string', description: 'cap on readings per second over all sites (lowers --speed if needed)', default: '5000', placeholder: 'n' },
  'score-interval': { type: 'string', description: 'seconds between score publications', default: '2', placeholder: 's' },
  'print-interval': { type: 'string', description: 'seconds between status lines (0 = only at the end)', default: '5', placeholder: 's' },
} as const satisfies OptionTable;

const schema = z.object({
  sites: intArg({ min: 1, max: 1000 }),
  data: z.string().min(1).optional(),
  synthetic: z.boolean().default(false),
  subjects: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
    .optional(),
  split: z.enum(SPLIT_CHOICES as [SplitChoice, ...SplitChoice[]]).optional(),
  order: z.enum(WINDOW_ORDERS as [WindowOrder, ...WindowOrder[]]).optional(),
  seed: intArg({ min: 0 }).default(0),
  speed: numberArg({ min: 0.001, max: 100_000 }).default(1),
  broker: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, { error: 'expected a URL like mqtt://host:1883' }).default(DEFAULT_SIM_BROKER),
  username: z.string().optional(),
  password: z.string().optional(),
  format: z.enum(READING_FORMATS as [ReadingFormat, ...ReadingFormat[]]).default('json'),
  'topic-root': z.string().min(1).default('sim'),
  'site-prefix': z.string().default('site-'),
  duration: numberArg({ min: 0.001 }).optional(),
  'max-rate': numberArg({ min: 1, max: 1_000_000 }).default(5000),
  'score-interval': numberArg({ min: 0 }).default(2),
  'print-interval': numberArg({ min: 0 }).default(5),
});

function pct(x: number | null): string {
  return x === null ? '  –  ' : `${(100 * x).toFixed(1)}%`;
}

/** One compact status line per site: readings sent, predictions seen and rate, accuracy per model version. */
export function formatSiteLine(s: SiteScore, maxVersions = 3): string {
  const models = s.models.slice(-maxVersions).map((m) => `${m.modelVersion} ${pct(m.accuracy)} (${m.total})`);
  const skipped = s.skipped.tie + s.skipped.outOfRange;
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  const parts = [
    `${s.site.padEnd(10)} ${`${s.source} ${s.subject}`.padEnd(18)}`,
    `sent ${String(s.readingsSent).padStart(8)}`,
    `preds ${String(s.predictions).padStart(6)} (${s.windowsPerSec.toFixed(1)}/s)`,
    models.length > 0 ? models.join('  ') : 'no predictions yet',
  ];
  if (skipped > 0) parts.push(`skipped ${skipped}`);
  if (dropped > 0) parts.push(`dropped ${dropped}`);
  return parts.join('  ');
}

export const simCommand: Command = {
  summary: 'stream live sensor data for N sites over MQTT and score the predictions agents publish',
  usage: { table, schema },
  async run(argv, io: CommandIo) {
    const a = parseCommandArgs('sim', argv, table, schema);
    const loaded = loadSimSites({
      sites: a.sites,
      ...(a.data !== undefined && { data: a.data }),
      synthetic: a.synthetic,
      ...(a.subjects !== undefined && { subjects: a.subjects }),
      ...(a.split !== undefined && { split: a.split }),
      ...(a.order !== undefined && { order: a.order }),
      seed: a.seed,
      sitePrefix: a['site-prefix'],
    });
    const password = a.password ?? io.env.SITEKD_MQTT_PASSWORD;
    const transport = await MqttTransport.connect({
      url: a.broker,
      clientId: `sitekd-sim-${randomBytes(4).toString('hex')}`,
      protocol: 'auto',
      ...(a.username !== undefined && { username: a.username }),
      ...(password !== undefined && { password }),
    });
    let publishErrors = 0;
    let sim: Simulator;
    try {
      sim = new Simulator({
        sites: loaded.sites,
        transport,
        speed: a.speed,
        format: a.format,
        topicRoot: a['topic-root'],
        maxMessagesPerSec: a['max-rate'],
        scoreIntervalMs: Math.round(a['score-interval'] * 1000),
        clock: systemClock,
        onError: () => {
          publishErrors++;
        },
      });
    } catch (err) {
      await transport.close(true);
      throw err;
    }

    const rate = (loaded.sites.length * 1000 * sim.effectiveSpeed) / sim.periodMs;
    io.stderr.write(
      `sitekd sim: ${loaded.sites.length} site(s) from ${loaded.kind === 'har' ? `HAR data (${loaded.origin})` : loaded.origin}, ` +
        `${a.format} readings on ${a['topic-root']}/{site}/imu, speed ${+sim.effectiveSpeed.toFixed(3)} (${Math.round(rate)} msgs/s), broker ${a.broker}\n`,
    );
    if (sim.effectiveSpeed < sim.requestedSpeed) {
      io.stderr.write(`sitekd sim: --speed ${a.speed} would exceed --max-rate ${a['max-rate']} msgs/s; using ${+sim.effectiveSpeed.toFixed(3)}\n`);
    }
    for (const s of loaded.sites) io.stderr.write(`  ${s.site}: ${s.description}\n`);

    const print = (): void => {
      for (const s of sim.summaries()) io.stderr.write(`${formatSiteLine(s)}\n`);
      if (publishErrors > 0) io.stderr.write(`  (${publishErrors} publish errors)\n`);
    };

    let stopRequested: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      stopRequested = resolve;
    });
    const onSignal = (): void => stopRequested();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const printTimer = a['print-interval'] > 0 ? setInterval(print, a['print-interval'] * 1000) : undefined;
    const durationTimer = a.duration !== undefined ? setTimeout(stopRequested, a.duration * 1000) : undefined;
    try {
      await sim.start();
      await Promise.race([stopped, sim.finished]);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (printTimer !== undefined) clearInterval(printTimer);
      if (durationTimer !== undefined) clearTimeout(durationTimer);
      await sim.stop();
      print();
      await transport.close();
    }
    return 0;
  },
};

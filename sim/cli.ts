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
import { defineCommand, type CommandIo } from '../shared/cli/command';
import type { Parsed } from '../shared/cli/options';
import { systemClock } from '../shared/clock';
import type { Logger } from '../shared/log';
import { logConnectionEvents } from '../shared/transport/connection-log';
import { MqttTransport } from '../shared/transport/mqtt-transport';
import type { SiteScore } from './scoreboard';
import { Simulator } from './simulator';
import { loadSimSites } from './sources';
import { simSpec } from './spec';

export { DEFAULT_SIM_BROKER } from './spec';

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

export const simCommand = defineCommand(simSpec, async (a, { io, log }) => runSim(a, io, log));

async function runSim(a: Parsed<typeof simSpec.options>, io: CommandIo, log: Logger): Promise<number> {
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
    // A broker with authentication binds the client id to the user name (docs/protocol.md, Security).
    clientId: a.username ?? `sitekd-sim-${randomBytes(4).toString('hex')}`,
    protocol: 'auto',
    ...(a.username !== undefined && { username: a.username }),
    ...(password !== undefined && { password }),
  });
  log.debug('connected', { broker: a.broker });
  logConnectionEvents(transport, { log, clock: systemClock, url: a.broker });
  const errors = { publish: 0 };
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
      onError: (err) => {
        errors.publish++;
        log.debug('publish failed', { err });
      },
    });
  } catch (err) {
    await transport.close(true);
    throw err;
  }
  announce(io, a, loaded, sim);
  await streamUntilStopped(a, sim, transport, () => {
    for (const s of sim.summaries()) io.stderr.write(`${formatSiteLine(s)}\n`);
    if (errors.publish > 0) io.stderr.write(`  (${errors.publish} publish errors)\n`);
  });
  return 0;
}

/** Streams until Ctrl-C, SIGTERM, --duration or the end of the stream; prints the status lines every --print-interval. */
async function streamUntilStopped(a: Parsed<typeof simSpec.options>, sim: Simulator, transport: MqttTransport, print: () => void): Promise<void> {
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
}

/** The opening lines on stderr: where the sites come from, where readings go, and the rate actually used. */
function announce(io: CommandIo, a: Parsed<typeof simSpec.options>, loaded: ReturnType<typeof loadSimSites>, sim: Simulator): void {
  const rate = (loaded.sites.length * 1000 * sim.effectiveSpeed) / sim.periodMs;
  io.stderr.write(
    `sitekd sim: ${loaded.sites.length} site(s) from ${loaded.kind === 'har' ? `HAR data (${loaded.origin})` : loaded.origin}, ` +
      `${a.format} readings on ${a['topic-root']}/{site}/imu, speed ${+sim.effectiveSpeed.toFixed(3)} (${Math.round(rate)} msgs/s), broker ${a.broker}\n`,
  );
  if (sim.effectiveSpeed < sim.requestedSpeed) {
    io.stderr.write(`sitekd sim: --speed ${a.speed} would exceed --max-rate ${a['max-rate']} msgs/s; using ${+sim.effectiveSpeed.toFixed(3)}\n`);
  }
  for (const s of loaded.sites) io.stderr.write(`  ${s.site}: ${s.description}\n`);
}

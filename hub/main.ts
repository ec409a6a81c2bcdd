/**
 * `sitekd hub`: the hub process's composition root. Parses flags and the config file (defaults < file < flags),
 * builds the logger, starts the Hub, and on SIGINT/SIGTERM stops it gracefully (triggers off, a running round may
 * finish within shutdownTimeoutSeconds, status `offline`, store flushed, broker closed). A bad configuration exits
 * 78 (EX_CONFIG): systemd's `RestartPreventExitStatus=78` then does not restart it in a loop.
 */
import { defineCommand, type CommandIo } from '../shared/cli/command';
import type { Parsed } from '../shared/cli/options';
import { ErrorCode, isSitekdError, SitekdError } from '../shared/errors';
import { systemClock } from '../shared/clock';
import type { Logger } from '../shared/log';
import { sitekdVersion } from '../shared/version';
import { hubSpec } from './cli/specs';
import { loadHubConfig, redactedConfig } from './config';
import { Hub } from './hub';

/** Exit status for a configuration that cannot work (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** Errors at startup that a restart cannot fix: exit 78 instead of 1. */
const CONFIG_CODES: readonly string[] = [
  ErrorCode.CONFIG_INVALID, ErrorCode.SCHEDULE_INVALID, ErrorCode.DATA_NOT_FOUND, ErrorCode.DATA_UNKNOWN_DOMAIN,
  ErrorCode.DATA_MANIFEST_INVALID, ErrorCode.MODEL_SPEC_MISMATCH, ErrorCode.MODEL_LOAD, ErrorCode.TOPIC_INVALID,
];

type HubArgs = Parsed<typeof hubSpec.options>;

/** Flags as config keys; undefined = not given, so the file or the default applies. */
export function flagsToConfig(a: Partial<HubArgs>): Record<string, unknown> {
  return {
    data: a.data, source: a.source, teacher: a.teacher, stateDir: a['state-dir'], sites: a.sites,
    mqttPort: a['mqtt-port'], mqttHost: a['mqtt-host'], httpPort: a['http-port'], broker: a.broker, hubId: a['hub-id'], username: a.username,
    password: a.password, ca: a.ca, cert: a.cert, key: a.key,
    allowAnonymous: a['allow-anonymous'] ? true : undefined, tlsCert: a['tls-cert'], tlsKey: a['tls-key'],
    schedule: a.schedule === undefined ? undefined : a.schedule === 'off' || a.schedule === 'none' ? null : a.schedule,
    minNewWindows: a['min-new-windows'], cooldownMinutes: a['cooldown-minutes'], epochs: a.epochs, teacherEpochs: a['teacher-epochs'], seed: a.seed, backend: a.backend,
    labelledSites: a['labelled-sites'] === undefined ? undefined : parseLabelledSites(a['labelled-sites'], a.data), gateReference: a['gate-reference'], roundRecipe: a['round-recipe'],
    gateConfidence: a['gate-confidence'], gateMargin: a['gate-margin'], gateMinGain: a['gate-min-gain'],
  };
}

/** `site-1=11,site-2=13@/data/HAR` → labelledSites; a pair without `@dir` uses `--data` (left for the schema to require). */
export function parseLabelledSites(list: string, data: string | undefined): Record<string, { data: string | undefined; domain: string }> {
  const out: Record<string, { data: string | undefined; domain: string }> = {};
  for (const item of list.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const m = /^([^=]+)=([^@]+)(?:@(.+))?$/.exec(item);
    if (m === null) throw new SitekdError(ErrorCode.CONFIG_INVALID, `--labelled-sites: expected site=domain or site=domain@dir, got ${JSON.stringify(item)}`);
    Object.defineProperty(out, (m[1] as string).trim(), { value: { data: m[3]?.trim() ?? data, domain: (m[2] as string).trim() }, enumerable: true });
  }
  return out;
}

async function runHub(a: HubArgs, io: CommandIo, log: Logger): Promise<number> {
  const config = loadHubConfig({
    ...(a.config !== undefined ? { file: a.config } : {}),
    flags: flagsToConfig(a),
    // systemd's StateDirectory= sets STATE_DIRECTORY: a default below the file; a password (EnvironmentFile=) and
    // SITEKD_BACKEND from the environment override the file, a flag overrides both.
    base: { stateDir: io.env['STATE_DIRECTORY'] },
    env: { password: io.env['SITEKD_MQTT_PASSWORD'], backend: io.env['SITEKD_BACKEND'] },
  });
  log.info('starting hub', { config: redactedConfig(config) });
  const hub = new Hub({
    config, log, hubVersion: sitekdVersion(), clock: systemClock,
    onBrokerListening: (port, url) => io.stdout.write(`sitekd hub: MQTT broker on ${url} (port ${port})\n`),
    onHttpListening: (url) => io.stdout.write(`sitekd hub: metrics on ${url}/metrics, health on ${url}/healthz and ${url}/readyz\n`),
  });
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      log.warn('second signal: exiting at once', { signal: sig });
      process.exit(130);
    }
    signalled = true;
    log.info('stopping', { signal: sig });
    void hub.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await hub.start();
    if (hub.brokerPort === undefined) io.stdout.write(`sitekd hub: connected to ${hub.url}\n`);
    io.stdout.write(`sitekd hub: agents must trust ${hub.key?.publicKeyFile ?? '(no key)'} (keyId ${hub.key?.keyId ?? '?'})\n`);
    await hub.whenStopping();
    await hub.stop();
    return 0;
  } catch (err) {
    await hub.stop();
    if (signalled && isSitekdError(err, ErrorCode.JOB_REJECTED)) return 0; // stopped while starting
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const hubCommand = defineCommand(hubSpec, async (a, { io, log }) => {
  try {
    return await runHub(a, io, log);
  } catch (err) {
    if (isSitekdError(err) && CONFIG_CODES.includes(err.code)) {
      io.stderr.write(`sitekd: ${err.code}: ${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
});

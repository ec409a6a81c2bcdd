/**
 * `sitekd hub`: the hub process's composition root. Parses flags and the config file (defaults < file < flags),
 * builds the logger, starts the Hub, and on SIGINT/SIGTERM stops it gracefully (triggers off, a running round may
 * finish within shutdownTimeoutSeconds, status `offline`, store flushed, broker closed). A bad configuration exits
 * 78 (EX_CONFIG): systemd's `RestartPreventExitStatus=78` then does not restart it in a loop.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { intArg, numberArg, parseCommandArgs, type OptionTable } from '../shared/cli/args';
import { systemClock } from '../shared/clock';
import { findRepoRoot } from '../shared/fs/repo-root';
import { ErrorCode, isSitekdError, SitekdError } from '../shared/errors';
import type { Command, CommandIo } from '../shared/cli/common';
import { loadHubConfig, redactedConfig } from './config';
import { Hub } from './hub';
import { createLogger } from '../shared/log';

/** Exit status for a configuration that cannot work (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** Errors at startup that a restart cannot fix: exit 78 instead of 1. */
const CONFIG_CODES: readonly string[] = [
  ErrorCode.CONFIG_INVALID, ErrorCode.SCHEDULE_INVALID, ErrorCode.DATA_NOT_FOUND, ErrorCode.DATA_UNKNOWN_DOMAIN,
  ErrorCode.DATA_MANIFEST_INVALID, ErrorCode.MODEL_SPEC_MISMATCH, ErrorCode.MODEL_LOAD, ErrorCode.TOPIC_INVALID,
];

const table = {
  config: { type: 'string', description: 'JSON config file (hub/config.ts; flags override it)', placeholder: 'file' },
  data: { type: 'string', description: 'dataset directory (manifest.json) or a root containing HAR/', placeholder: 'dir' },
  source: { type: 'string', description: 'labelled source domain id, or several comma-separated (2,7,12,9,6): their train splits are pooled', placeholder: 'ids' },
  teacher: { type: 'string', description: 'teacher artifact (sitekd train-teacher); trained at first start when absent', placeholder: 'file' },
  'state-dir': { type: 'string', description: 'keys, models, samples, registry (env STATE_DIRECTORY; default ./sitekd-hub-state)', placeholder: 'dir' },
  sites: { type: 'string', description: 'comma-separated site ids served from the start', placeholder: 'a,b' },
  'mqtt-port': { type: 'string', description: 'port of the embedded broker, 0 = any free port (default 1883)', placeholder: 'port' },
  'mqtt-host': { type: 'string', description: 'interface of the embedded broker (default 127.0.0.1)', placeholder: 'host' },
  broker: { type: 'string', description: 'external broker URL instead of the embedded one (mqtt://, mqtts://)', placeholder: 'url' },
  username: { type: 'string', description: 'broker user name', placeholder: 'name' },
  password: { type: 'string', description: 'broker password (better: env SITEKD_MQTT_PASSWORD)', placeholder: 'secret' },
  ca: { type: 'string', description: 'CA certificate PEM for mqtts://', placeholder: 'file' },
  cert: { type: 'string', description: 'client certificate PEM', placeholder: 'file' },
  key: { type: 'string', description: 'client private key PEM', placeholder: 'file' },
  schedule: { type: 'string', description: 'redistill schedule, cron in UTC, or "off" (default "0 3 * * *")', placeholder: 'cron' },
  'min-new-windows': { type: 'string', description: 'redistill a site after this many new windows (0 = off)', placeholder: 'n' },
  'cooldown-minutes': { type: 'string', description: 'minimum time between two automatic rounds of a site (default 10)', placeholder: 'min' },
  epochs: { type: 'string', description: 'student epochs per round (default 10)', placeholder: 'n' },
  'teacher-epochs': { type: 'string', description: 'teacher epochs when the hub trains its teacher (default 10)', placeholder: 'n' },
  seed: { type: 'string', description: 'random seed', placeholder: 'n' },
  backend: { type: 'string', description: 'tfjs backend of the training worker: wasm (default), cpu, tensorflow, auto', placeholder: 'name' },
  'labelled-sites': { type: 'string', description: 'labelled sets that also gate rounds: site=domain[@dir],… (test split; dir default --data)', placeholder: 'list' },
  'gate-reference': { type: 'string', description: 'gate agreement against adapted-teacher (default) or teacher', placeholder: 'name' },
  'log-json': { type: 'boolean', description: 'log JSON lines instead of text' },
  verbose: { type: 'boolean', description: 'log debug messages too' },
} as const satisfies OptionTable;

const schema = z.object({
  config: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  source: z.string().min(1).optional(),
  teacher: z.string().min(1).optional(),
  'state-dir': z.string().min(1).optional(),
  sites: z.string().optional(),
  'mqtt-port': intArg({ min: 0, max: 65_535 }).optional(),
  'mqtt-host': z.string().min(1).optional(),
  broker: z.string().min(1).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  schedule: z.string().min(1).optional(),
  'min-new-windows': intArg({ min: 0 }).optional(),
  'cooldown-minutes': numberArg({ min: 0 }).optional(),
  epochs: intArg({ min: 1, max: 10_000 }).optional(),
  'teacher-epochs': intArg({ min: 1, max: 10_000 }).optional(),
  seed: intArg({ min: 0 }).optional(),
  backend: z.string().optional(),
  'labelled-sites': z.string().optional(),
  'gate-reference': z.string().optional(),
  'log-json': z.boolean().optional(),
  verbose: z.boolean().optional(),
});

type Flags = z.output<typeof schema>;

/** Flags as config keys; undefined = not given, so the file or the default applies. */
export function flagsToConfig(a: Flags): Record<string, unknown> {
  return {
    data: a.data, source: a.source, teacher: a.teacher, stateDir: a['state-dir'],
    sites: a.sites === undefined ? undefined : a.sites.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    mqttPort: a['mqtt-port'], mqttHost: a['mqtt-host'], broker: a.broker, username: a.username,
    password: a.password, ca: a.ca, cert: a.cert, key: a.key,
    schedule: a.schedule === undefined ? undefined : a.schedule === 'off' || a.schedule === 'none' ? null : a.schedule,
    minNewWindows: a['min-new-windows'], cooldownMinutes: a['cooldown-minutes'], epochs: a.epochs, teacherEpochs: a['teacher-epochs'], seed: a.seed, backend: a.backend,
    labelledSites: a['labelled-sites'] === undefined ? undefined : parseLabelledSites(a['labelled-sites'], a.data), gateReference: a['gate-reference'],
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

/** The sitekd version from package.json (the hub reports it in hub/status). */
export function readHubVersion(): string {
  try {
    const root = findRepoRoot(__dirname);
    const pkg = JSON.parse(fs.readFileSync(path.join(root ?? '.', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' && pkg.version.length > 0 ? pkg.version.slice(0, 64) : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

async function runHub(argv: readonly string[], io: CommandIo): Promise<number> {
  const a = parseCommandArgs('hub', argv, table, schema);
  const config = loadHubConfig({
    ...(a.config !== undefined ? { file: a.config } : {}),
    flags: flagsToConfig(a),
    // systemd's StateDirectory= sets STATE_DIRECTORY: a default below the file; a password from the environment
    // (EnvironmentFile=) overrides the file, a flag overrides both.
    base: { stateDir: io.env['STATE_DIRECTORY'] },
    env: { password: io.env['SITEKD_MQTT_PASSWORD'] },
  });
  const log = createLogger({ stream: io.stderr, level: a.verbose === true ? 'debug' : 'info', json: a['log-json'] === true });
  log.info('starting hub', { config: redactedConfig(config) });
  const hub = new Hub({
    config, log, hubVersion: readHubVersion(), clock: systemClock,
    onBrokerListening: (port, url) => io.stdout.write(`sitekd hub: MQTT broker on ${url} (port ${port})\n`),
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

export const hubCommand: Command = {
  summary: 'run the hub: MQTT broker, sample store, teacher, scheduled per-site redistillation, signed model rollout',
  usage: { table, schema },
  async run(argv, io) {
    try {
      return await runHub(argv, io);
    } catch (err) {
      if (isSitekdError(err) && CONFIG_CODES.includes(err.code)) {
        io.stderr.write(`sitekd: ${err.code}: ${err.message}\n`);
        return EXIT_CONFIG;
      }
      throw err;
    }
  },
};

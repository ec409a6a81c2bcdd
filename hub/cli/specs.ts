/**
 * What `sitekd hub` and the command clients (`redistill`, `rollback`, `status`, `models`, `jobs`) accept. Light on purpose (no tfjs, no MQTT client): `sitekd --help` and
 * `sitekd <command> --help` read only this. The hub's flags override its config file (hub/config.ts), so their
 * defaults are the config's and appear in --help as labels only.
 */
import type { CommandSpec } from '../../shared/cli/command';
import {
  backendOptions, BROKER_URL, loggingOptions, mqttLoginOptions, mqttTlsOptions, optionalDataOptions,
} from '../../shared/cli/option-groups';
import { opt } from '../../shared/cli/options';
import { ID_PATTERN } from '../../shared/protocol/topics';

const epochs = { min: 1, max: 10_000, defaultLabel: '10' } as const;

export const hubSpec = {
  name: 'hub',
  summary: 'run the hub: MQTT broker, sample store, teacher, scheduled per-site redistillation, signed model rollout',
  options: {
    config: opt.string({ description: 'JSON config file (keys in hub/config.ts); flags override it', placeholder: 'file' }),
    ...optionalDataOptions,
    source: opt.string({ description: 'labelled source domain id, or several comma-separated (2,7,12,9,6): their train splits are pooled', placeholder: 'ids' }),
    teacher: opt.string({ description: 'teacher artifact from sitekd train-teacher', placeholder: 'file', defaultLabel: 'trained at first start' }),
    'state-dir': opt.string({ description: 'keys, models, samples, registry', placeholder: 'dir', defaultLabel: 'env STATE_DIRECTORY, else ./sitekd-hub-state' }),
    sites: opt.list({ description: 'site ids served from the start, comma-separated', placeholder: 'a,b' }),
    'mqtt-port': opt.int({ description: 'port of the embedded broker; 0 = any free port', placeholder: 'port', min: 0, max: 65_535, defaultLabel: '1883' }),
    'mqtt-host': opt.string({ description: 'interface of the embedded broker', placeholder: 'host', defaultLabel: '127.0.0.1' }),
    broker: opt.string({ description: 'external broker URL instead of the embedded one', placeholder: 'url', ...BROKER_URL }),
    'hub-id': opt.string({ description: 'one of several hubs on one --broker and one shared --state-dir: serve the sites hashed to this id', placeholder: 'id', defaultLabel: 'serve every site alone' }),
    'http-port': opt.int({ description: 'serve /metrics (Prometheus), /healthz and /readyz on this port, on the broker\'s interface; 0 = any free port', placeholder: 'port', min: 0, max: 65_535, defaultLabel: 'off' }),
    'allow-anonymous': opt.flag({ description: 'embedded broker without authentication: anyone who reaches it may read and publish every topic' }),
    'tls-cert': opt.string({ description: 'certificate chain PEM: the embedded broker listens with TLS (mqtts://)', placeholder: 'file' }),
    'tls-key': opt.string({ description: 'private key PEM of --tls-cert', placeholder: 'file' }),
    ...mqttLoginOptions,
    ...mqttTlsOptions,
    schedule: opt.string({ description: 'redistill schedule, cron in UTC, or "off"', placeholder: 'cron', defaultLabel: '"0 3 * * *"' }),
    'min-new-windows': opt.int({ description: 'redistill a site after this many new windows; 0 = off', min: 0, defaultLabel: '0' }),
    'cooldown-minutes': opt.number({ description: 'minimum time between two automatic rounds of a site', placeholder: 'min', min: 0, defaultLabel: '10' }),
    epochs: opt.int({ description: 'student epochs per round', ...epochs }),
    'teacher-epochs': opt.int({ description: 'teacher epochs when the hub trains its teacher', ...epochs }),
    seed: opt.int({ description: 'random seed', min: 0, max: 2 ** 31 - 1, defaultLabel: '0' }),
    backend: { ...backendOptions.backend, description: 'tfjs backend of the training worker', defaultLabel: 'env SITEKD_BACKEND, else wasm' },
    'labelled-sites': opt.string({
      description: "labelled sets that decide a site's rounds and, with 20 windows of every class, fit its student's head: site=domain[@dir],… (their test split); dir defaults to --data",
      placeholder: 'list',
    }),
    'round-recipe': opt.choice(['site-adapt', 'unikd'], { description: "how a round makes a site's candidate: the generic student adapted to the site's windows, or UNI-KD", placeholder: 'name', defaultLabel: 'site-adapt' }),
    'gate-reference': opt.choice(['adapted-teacher', 'teacher'], { description: 'what the gate measures agreement against', placeholder: 'name', defaultLabel: 'adapted-teacher' }),
    'gate-confidence': opt.number({ description: 'one-sided confidence with which the gate must show a candidate is not worse', placeholder: 'p', min: 0.5, max: 0.999, defaultLabel: '0.95' }),
    'gate-margin': opt.number({ description: 'how much worse (share of held-out windows) a candidate may be at that confidence; a tie never publishes', placeholder: 'x', min: 0, max: 0.5, defaultLabel: '0.02' }),
    'gate-min-gain': opt.number({ description: 'wins minus losses a candidate needs, as a share of the judged windows (at least one window)', placeholder: 'x', min: 0, max: 0.5, defaultLabel: '0.005' }),
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

export const DEFAULT_REDISTILL_BROKER = 'mqtt://127.0.0.1:1883';

/** How a command client reaches the hub: the broker it uses, and this client's login. */
const hubClientOptions = {
  broker: opt.string({ description: 'broker the hub uses', placeholder: 'url', ...BROKER_URL, default: DEFAULT_REDISTILL_BROKER }),
  ...mqttLoginOptions,
  ...mqttTlsOptions,
  'client-id': opt.string({ description: 'MQTT client id', placeholder: 'id', defaultLabel: 'the user name, else sitekd-cli-<random>' }),
};

/** Exit statuses every command client shares (bin/sitekd.ts). */
const CLIENT_EXITS = {
  1: 'the hub refused (its error code is printed), no reply in time (SITEKD_ERR_CMD_TIMEOUT), or another error',
  64: 'bad usage',
} as const;

export const redistillSpec = {
  name: 'redistill',
  summary: 'ask the hub (over MQTT) to redistill one site now and print the outcome',
  options: {
    site: opt.string({ description: 'the site to redistill', placeholder: 'id', required: true }),
    ...hubClientOptions,
    timeout: opt.int({ description: 'seconds to wait for the reply and the job to finish', placeholder: 's', min: 1, max: 7 * 86_400, default: 900 }),
    json: opt.flag({ description: 'print one JSON object with the outcome' }),
    ...loggingOptions,
  },
  exits: { 0: 'a new version was published', 2: 'the gate rejected the candidate, or the round was skipped', ...CLIENT_EXITS },
} as const satisfies CommandSpec;

export const rollbackSpec = {
  name: 'rollback',
  summary: 'ask the hub (over MQTT) to publish an earlier version of a site again, signed, and print what it published',
  options: {
    site: opt.string({ description: 'the site to roll back', placeholder: 'id', required: true }),
    to: opt.string({
      description: 'the version to go back to', placeholder: 'version', pattern: ID_PATTERN, expects: 'a version like 2-0123abcd',
      defaultLabel: 'the one the site served before its current one',
    }),
    reason: opt.string({
      description: 'why, kept in the signed manifest and the site history', placeholder: 'text', pattern: /^[^]{1,500}$/u, expects: 'a text of 1-500 characters',
      defaultLabel: '"rolled back by hand"',
    }),
    ...hubClientOptions,
    timeout: opt.int({ description: 'seconds to wait for the reply', placeholder: 's', min: 1, max: 86_400, default: 60 }),
    json: opt.flag({ description: 'print one JSON object with what was published' }),
    ...loggingOptions,
  },
  exits: { 0: 'the earlier version was published', ...CLIENT_EXITS },
} as const satisfies CommandSpec;

const statusTimeout = opt.int({ description: 'seconds to wait for each reply', placeholder: 's', min: 1, max: 3600, default: 10 });

export const statusSpec = {
  name: 'status',
  summary: 'ask the hub (over MQTT) for sites, agents, models, jobs, the last rounds and alerts',
  options: {
    site: opt.string({ description: 'show only this site', placeholder: 'id', defaultLabel: 'every site' }),
    ...hubClientOptions,
    timeout: statusTimeout,
    json: opt.flag({ description: 'print one JSON object: {hub, sites, alerts}' }),
    ...loggingOptions,
  },
  exits: { 0: 'no alert', 2: 'at least one alert: an agent offline or stale, drift above the threshold, or rounds failing', ...CLIENT_EXITS },
} as const satisfies CommandSpec;

export const watchSpec = {
  name: 'watch',
  summary: 'sitekd status, redrawn every few seconds until Ctrl-C',
  options: {
    interval: opt.int({ description: 'seconds between refreshes', placeholder: 's', min: 1, max: 3600, default: 2 }),
    count: opt.int({ description: 'stop after this many refreshes', placeholder: 'n', min: 1, defaultLabel: 'until Ctrl-C' }),
    ...hubClientOptions,
    timeout: statusTimeout,
    ...loggingOptions,
  },
  exits: { 0: 'stopped (Ctrl-C, SIGTERM or --count)', ...CLIENT_EXITS },
} as const satisfies CommandSpec;

export const modelsSpec = {
  name: 'models',
  summary: "ask the hub (over MQTT) for a site's model history and its last round's gate figures",
  options: {
    site: opt.string({ description: 'the site', placeholder: 'id', required: true }),
    ...hubClientOptions,
    timeout: statusTimeout,
    json: opt.flag({ description: 'print one JSON object: {site, modelVersion, models, lastRound}' }),
    ...loggingOptions,
  },
  exits: { 0: 'printed', ...CLIENT_EXITS },
} as const satisfies CommandSpec;

export const jobsSpec = {
  name: 'jobs',
  summary: 'ask the hub (over MQTT) for its running and queued jobs and the last round of each site',
  options: {
    ...hubClientOptions,
    timeout: statusTimeout,
    json: opt.flag({ description: 'print one JSON object: {running, queued, lastRounds}' }),
    ...loggingOptions,
  },
  exits: { 0: 'printed', ...CLIENT_EXITS },
} as const satisfies CommandSpec;

export const CREDENTIAL_ACTIONS = ['add', 'list', 'remove', 'export'] as const;

export const credentialsSpec = {
  name: 'credentials',
  summary: 'manage who may use the hub\'s embedded broker: credentials add|list|remove|export (Mosquitto files)',
  options: {
    'state-dir': opt.string({ description: 'the hub\'s state directory (credentials.json)', placeholder: 'dir', defaultLabel: 'env STATE_DIRECTORY, else ./sitekd-hub-state' }),
    user: opt.string({ description: 'add/remove: the user name; for an agent its agent id (= MQTT client id)', placeholder: 'name' }),
    role: opt.choice(['agent', 'operator', 'sensor'], { description: 'add: agent (its site\'s topics), operator (commands, read all), sensor (publish to --topic)', placeholder: 'role' }),
    site: opt.string({ description: 'add: the agent\'s site', placeholder: 'id' }),
    topic: opt.list({ description: 'add: sensor topics (filters), repeatable or comma-separated: a sensor writes them, an agent reads them', placeholder: 'filter' }),
    read: opt.list({ description: 'add: extra topics (filters) the identity may read, repeatable', placeholder: 'filter' }),
    password: opt.string({ description: 'add: the password (visible in ps); default: generated and printed alone on the last line', placeholder: 'secret' }),
    replace: opt.flag({ description: 'add: replace an identity of the same name (a new password)' }),
    format: opt.choice(['passwd', 'acl'], { description: 'export: Mosquitto password_file or acl_file, on stdout', placeholder: 'what' }),
    json: opt.flag({ description: 'list: one JSON object per identity' }),
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

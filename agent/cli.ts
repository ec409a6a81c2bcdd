/**
 * What `sitekd agent` accepts, and its flags as a config layer that overrides the JSON file (agent/config.ts). Lists
 * are comma-separated (`--sensor-topic a,b`, `--hub-key k1.pem,k2.pem`); a list given on the command line replaces
 * the file's list. Light on purpose (no tfjs, no MQTT client): `sitekd agent --help` reads only this. The flags'
 * defaults are the config's, so --help shows them as labels and an absent flag leaves the file's value alone.
 */
import type { CommandSpec } from '../shared/cli/command';
import {
  backendOptions, BROKER_URL, logLevelFlag, loggingOptions, mqttLoginOptions, mqttTlsOptions,
} from '../shared/cli/option-groups';
import { opt, type Parsed } from '../shared/cli/options';

export const agentSpec = {
  name: 'agent',
  summary: 'run an edge agent: sensor topics → student predictions, sample return, signed model updates',
  options: {
    config: opt.string({ description: 'JSON config file; flags override it', placeholder: 'file' }),
    site: opt.string({ description: 'site id', placeholder: 'id' }),
    id: opt.string({ description: 'agent id, unique within the site', placeholder: 'id' }),
    broker: opt.string({ description: 'MQTT broker URL', placeholder: 'url', ...BROKER_URL }),
    username: { ...mqttLoginOptions.username, description: 'broker user name; the password comes from env SITEKD_MQTT_PASSWORD or the config file' },
    ...mqttTlsOptions,
    insecure: opt.flag({ description: 'do not verify the broker certificate (testing only)' }),
    protocol: opt.choice(['auto', '4', '5'], { description: 'MQTT protocol version: 4 is 3.1.1', placeholder: 'v', defaultLabel: 'auto' }),
    'client-id': opt.string({ description: 'MQTT client id', placeholder: 'id', defaultLabel: 'the user name, else sitekd-agent-{site}-{id}' }),
    'sensor-topic': opt.list({ description: 'sensor topic(s); each sends every model channel unless the config maps them', placeholder: 'topics' }),
    'sensor-format': opt.choice(['auto', 'json', 'msgpack', 'csv'], { description: 'sensor payload format', placeholder: 'fmt', defaultLabel: 'auto' }),
    channels: opt.list({ description: 'model channel names in model order', placeholder: 'names', defaultLabel: 'the 9 UCI-HAR channels' }),
    'class-names': opt.list({ description: 'class names for predictions', placeholder: 'names' }),
    'sample-rate': opt.number({ description: 'sensor sample rate in Hz', placeholder: 'hz', min: 0.001, defaultLabel: '50' }),
    'window-length': opt.int({ description: 'readings per window', min: 8, defaultLabel: '128' }),
    stride: opt.int({ description: 'readings between window starts', min: 1, defaultLabel: 'window-length / 2' }),
    'data-dir': opt.string({ description: 'directory for models and the sample outbox', placeholder: 'dir', defaultLabel: 'sitekd-agent-data/{site}/{id}' }),
    'hub-key': opt.list({ description: "the hub's Ed25519 public key file(s); required to accept models", placeholder: 'files' }),
    model: opt.string({ description: 'model artifact to serve until the hub sends one', placeholder: 'file' }),
    'payload-format': opt.choice(['msgpack', 'json'], { description: 'status/prediction/telemetry encoding', placeholder: 'fmt', defaultLabel: 'msgpack' }),
    ...backendOptions,
    'telemetry-interval': opt.int({ description: 'ms between telemetry messages', placeholder: 'ms', min: 1, defaultLabel: '10000' }),
    'upload-budget': opt.int({ description: 'sample bytes returned per minute', placeholder: 'bytes', min: 1, defaultLabel: '300000' }),
    'upload-interval': opt.int({ description: 'ms between sample batches', placeholder: 'ms', min: 1, defaultLabel: '30000' }),
    'max-clock-skew': opt.int({ description: 'readings stamped further ahead of this clock are dropped', placeholder: 'ms', min: 0, defaultLabel: '5000' }),
    'outbox-max-bytes': opt.int({ description: 'cap of the on-disk sample outbox; oldest batches go first', placeholder: 'bytes', min: 1, defaultLabel: '64 MiB' }),
    ...loggingOptions,
    'log-level': { ...loggingOptions['log-level'], defaultLabel: "the config file's logLevel, else info" },
  },
} as const satisfies CommandSpec;

export type AgentFlags = Parsed<typeof agentSpec.options>;

/** The flag that sets a config path (first segment), for error messages that name what a user can type. */
const FLAG_OF: Readonly<Record<string, string>> = {
  site: '--site', id: '--id', broker: '--broker', sensors: '--sensor-topic', channels: '--channels', classNames: '--class-names',
  sampleRateHz: '--sample-rate', windowLength: '--window-length', stride: '--stride', dataDir: '--data-dir',
  hubPublicKeyFile: '--hub-key', modelFile: '--model', payloadFormat: '--payload-format', backend: '--backend',
};

/** " (flags: --id, --broker)" for the config paths of a CONFIG_INVALID error's issues; '' when none maps to a flag. */
export function flagHint(issues: ReadonlyArray<{ readonly path: string }>): string {
  const flags = [...new Set(issues.map((i) => FLAG_OF[i.path.split('.')[0] ?? '']).filter((f): f is string => f !== undefined))];
  return flags.length === 0 ? '' : ` (set with ${flags.join(', ')}, or in --config FILE; see sitekd agent --help)`;
}

/**
 * The config layer the flags describe (undefined members are skipped by `mergeLayers`). Ranges are checked by
 * `AgentConfigSchema` afterwards, so a bad value is CONFIG_INVALID like one from the file.
 */
export function flagsToConfig(f: Partial<AgentFlags>, env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const protocol = f.protocol === undefined ? undefined : f.protocol === 'auto' ? 'auto' : Number(f.protocol);
  return {
    site: f.site,
    id: f.id,
    broker: {
      url: f.broker,
      username: f.username,
      password: env['SITEKD_MQTT_PASSWORD'],
      caFile: f.ca,
      certFile: f.cert,
      keyFile: f.key,
      rejectUnauthorized: f.insecure === true ? false : undefined,
      protocol,
      clientId: f['client-id'],
    },
    sensors: f['sensor-topic']?.map((topic) => ({ topic, ...(f['sensor-format'] !== undefined ? { format: f['sensor-format'] } : {}) })),
    channels: f.channels,
    classNames: f['class-names'],
    sampleRateHz: f['sample-rate'],
    windowLength: f['window-length'],
    stride: f.stride,
    dataDir: f['data-dir'],
    hubPublicKeyFile: f['hub-key'],
    modelFile: f.model,
    payloadFormat: f['payload-format'],
    backend: f.backend ?? env['SITEKD_BACKEND'],
    telemetryIntervalMs: f['telemetry-interval'],
    upload: { budgetBytesPerMinute: f['upload-budget'], intervalMs: f['upload-interval'] },
    outboxMaxBytes: f['outbox-max-bytes'],
    maxClockSkewMs: f['max-clock-skew'],
    logLevel: logLevelFlag(f),
  };
}

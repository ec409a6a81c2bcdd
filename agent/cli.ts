/**
 * `sitekd agent` flags → a config layer that overrides the JSON file (agent/config.ts). Lists are comma-separated
 * (`--sensor-topic a,b`, `--hub-key k1.pem,k2.pem`); a list given on the command line replaces the file's list.
 */
import { z } from 'zod';
import { intArg, numberArg, type OptionTable } from '../shared/cli/args';

export const agentFlagTable = {
  config: { type: 'string', description: 'JSON config file (flags override it)', placeholder: 'file' },
  site: { type: 'string', description: 'site id', placeholder: 'id' },
  id: { type: 'string', description: 'agent id (unique within the site)', placeholder: 'id' },
  broker: { type: 'string', description: 'MQTT broker URL, e.g. mqtt://localhost:1883 or mqtts://host:8883', placeholder: 'url' },
  username: { type: 'string', description: 'MQTT username (password from env SITEKD_MQTT_PASSWORD or the config file)', placeholder: 'name' },
  ca: { type: 'string', description: 'TLS CA certificate (PEM)', placeholder: 'file' },
  cert: { type: 'string', description: 'TLS client certificate (PEM)', placeholder: 'file' },
  key: { type: 'string', description: 'TLS client key (PEM)', placeholder: 'file' },
  insecure: { type: 'boolean', description: 'do not verify the broker certificate (testing only)' },
  protocol: { type: 'string', description: 'MQTT protocol: auto, 4 (3.1.1) or 5', placeholder: 'v' },
  'client-id': { type: 'string', description: 'MQTT client id (default sitekd-agent-{site}-{id})', placeholder: 'id' },
  'sensor-topic': { type: 'string', description: 'sensor topic(s), comma-separated; each sends every model channel unless the config maps them', placeholder: 'topics' },
  'sensor-format': { type: 'string', description: 'sensor payload format: auto, json, msgpack or csv', placeholder: 'fmt' },
  channels: { type: 'string', description: 'model channel names in model order, comma-separated (default the 9 UCI-HAR channels)', placeholder: 'names' },
  'class-names': { type: 'string', description: 'class names for predictions, comma-separated', placeholder: 'names' },
  'sample-rate': { type: 'string', description: 'sensor sample rate in Hz (default 50)', placeholder: 'hz' },
  'window-length': { type: 'string', description: 'readings per window (default 128)', placeholder: 'n' },
  stride: { type: 'string', description: 'readings between window starts (default window-length / 2)', placeholder: 'n' },
  'data-dir': { type: 'string', description: 'directory for models and the sample outbox (default sitekd-agent-data/{site}/{id})', placeholder: 'dir' },
  'hub-key': { type: 'string', description: "the hub's Ed25519 public key file(s), comma-separated; required to accept models", placeholder: 'files' },
  model: { type: 'string', description: 'model artifact to serve until the hub sends one', placeholder: 'file' },
  'payload-format': { type: 'string', description: 'status/prediction/telemetry encoding: msgpack (default) or json', placeholder: 'fmt' },
  backend: { type: 'string', description: 'tfjs backend: auto, tensorflow, wasm or cpu (env SITEKD_BACKEND)', placeholder: 'name' },
  'telemetry-interval': { type: 'string', description: 'ms between telemetry messages (default 10000)', placeholder: 'ms' },
  'upload-budget': { type: 'string', description: 'sample bytes returned per minute (default 300000)', placeholder: 'bytes' },
  'upload-interval': { type: 'string', description: 'ms between sample batches (default 30000)', placeholder: 'ms' },
  'outbox-max-bytes': { type: 'string', description: 'cap of the on-disk sample outbox; oldest batches go first (default 64 MiB)', placeholder: 'bytes' },
  'log-level': { type: 'string', description: 'debug, info, warn or error (default info)', placeholder: 'level' },
} as const satisfies OptionTable;

const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
  .pipe(z.array(z.string()).min(1, 'needs at least one entry'));

export const agentFlagSchema = z.object({
  config: z.string().min(1).optional(),
  site: z.string().optional(),
  id: z.string().optional(),
  broker: z.string().optional(),
  username: z.string().optional(),
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  insecure: z.boolean().optional(),
  protocol: z.enum(['auto', '4', '5']).optional(),
  'client-id': z.string().optional(),
  'sensor-topic': list.optional(),
  'sensor-format': z.enum(['auto', 'json', 'msgpack', 'csv']).optional(),
  channels: list.optional(),
  'class-names': list.optional(),
  'sample-rate': numberArg({ min: 0.001 }).optional(),
  'window-length': intArg({ min: 8 }).optional(),
  stride: intArg({ min: 1 }).optional(),
  'data-dir': z.string().optional(),
  'hub-key': list.optional(),
  model: z.string().optional(),
  'payload-format': z.enum(['msgpack', 'json']).optional(),
  backend: z.string().optional(),
  'telemetry-interval': intArg({ min: 1 }).optional(),
  'upload-budget': intArg({ min: 1 }).optional(),
  'upload-interval': intArg({ min: 1 }).optional(),
  'outbox-max-bytes': intArg({ min: 1 }).optional(),
  'log-level': z.string().optional(),
});
export type AgentFlags = z.output<typeof agentFlagSchema>;

/**
 * The config layer the flags describe (undefined members are skipped by `mergeLayers`). Ranges are checked by
 * `AgentConfigSchema` afterwards, so a bad value is CONFIG_INVALID like one from the file.
 */
export function flagsToConfig(f: AgentFlags, env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
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
    logLevel: f['log-level'],
  };
}

/**
 * The agent's configuration: one strict zod schema with every default in it, loaded by the shared loader
 * (shared/config-loader.ts) as schema defaults < JSON file (`--config FILE`) < command-line flags, and deep-frozen.
 * A value the schema refuses is a setup mistake: `SitekdError(CONFIG_INVALID)`, which `sitekd agent` turns into exit
 * status 78 (EX_CONFIG), so a systemd unit with `RestartPreventExitStatus=78` does not restart-loop on it.
 */
import { z } from 'zod';
import { UCI_SIGNALS } from '../shared/data/uci-import';
import { ErrorCode, SitekdError } from '../shared/errors';
import { BackendNameSchema } from '../shared/ml/backend-names';
import { loadConfig, parseConfig, type DeepReadonly } from '../shared/config-loader';
import { ID_PATTERN, isValidAgentId, isValidSiteId, MAX_TOPIC_LENGTH } from '../shared/protocol/topics';
import { LOG_LEVELS } from '../shared/log';

/** The UCI-HAR model channels in AdaTime's order: what the HAR students are trained on. */
export const HAR_CHANNELS: readonly string[] = UCI_SIGNALS;

const MiB = 1024 * 1024;

const SiteId = z.string().refine(isValidSiteId, `must match ${ID_PATTERN.source} and not be "hub"`);
const AgentId = z.string().refine(isValidAgentId, `must match ${ID_PATTERN.source} and not be "model"`);
const Path = z.string().min(1).max(4096);
const OneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1).max(16)]);
const SensorTopic = z
  .string()
  .min(1)
  .max(MAX_TOPIC_LENGTH)
  .refine((t) => !/[+#\u0000]/.test(t) && !t.startsWith('$'), 'must be a topic without + # or a leading $');

export const SensorConfigSchema = z.strictObject({
  topic: SensorTopic,
  format: z.enum(['auto', 'json', 'msgpack', 'csv']).default('auto'),
  /**
   * What each value the sensor sends means, in its order: a model channel name, a model channel index, or null for a
   * value the model does not use. Absent: the sensor sends every model channel, in the model's order.
   */
  channels: z
    .array(z.union([z.string().min(1).max(64), z.number().int().min(0).max(1023), z.null()]))
    .min(1)
    .max(1024)
    .optional(),
});

export const BrokerConfigSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, 'must be an mqtt://, mqtts://, ws:// or wss:// URL'),
  username: z.string().min(1).max(256).optional(),
  password: z.string().max(4096).optional(),
  /** PEM files for TLS (mqtts://). */
  caFile: Path.optional(),
  certFile: Path.optional(),
  keyFile: Path.optional(),
  rejectUnauthorized: z.boolean().default(true),
  /** `auto` tries MQTT 5 and falls back to 3.1.1 (aedes speaks only 3.1.1). */
  protocol: z.union([z.literal('auto'), z.literal(4), z.literal(5)]).default('auto'),
  /** Default `sitekd-agent-{site}-{id}`. */
  clientId: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).optional(),
  /** Our cap on outbound packets (MQTT.js does not apply the broker's; docs/ecosystem.md §4.1). 256 KiB. */
  maxPacketBytes: z.number().int().min(4096).max(268_435_455).default(256 * 1024),
  reconnectPeriodMs: z.number().int().min(100).max(600_000).default(1000),
  keepaliveS: z.number().int().min(5).max(3600).default(30),
});

export const UploadConfigSchema = z.strictObject({
  /** Sample bytes returned per minute, on average (token bucket). ~65 HAR windows a minute. */
  budgetBytesPerMinute: z.number().int().min(1024).max(1024 * MiB).default(300_000),
  /**
   * Share of each batch drawn uniformly at random; the rest are the windows the student was least sure about. 1 by
   * default: the hub adapts to the site and its gate judges on uniformly sampled windows only (a representative sample
   * of the site); at the default budget nearly every window is returned anyway (`sitekd adapt-eval`: 300 of 326).
   * Lower it for a tight budget where the uncertain windows are worth more than representativeness.
   */
  randomShare: z.number().min(0).max(1).default(1),
  maxBatch: z.number().int().min(1).max(4096).default(32),
  /** How often a batch is cut. */
  intervalMs: z.number().int().min(100).max(86_400_000).default(30_000),
  /** A batch sent but not acked within this is sent again (same batchId; the hub deduplicates). */
  ackTimeoutMs: z.number().int().min(100).max(86_400_000).default(30_000),
  /** Batches on the wire without an ack at most (oldest first); the rest wait in the outbox. */
  maxInFlight: z.number().int().min(1).max(256).default(4),
});

const ConfigObject = z.strictObject({
  site: SiteId,
  id: AgentId,
  broker: BrokerConfigSchema,
  sensors: z.array(SensorConfigSchema).min(1).max(64),
  /** The model's channel names, in the order the model expects them. */
  channels: z.array(z.string().min(1).max(64)).min(1).max(1024).default([...HAR_CHANNELS]),
  /** Optional class names for `Prediction.className`; used only when their count equals the model's classes. */
  classNames: z.array(z.string().min(1).max(64)).min(2).max(1000).optional(),
  sampleRateHz: z.number().min(0.001).max(100_000).default(50),
  /** Readings per window; a model whose spec has another window length is refused. */
  windowLength: z.number().int().min(8).max(1_000_000).default(128),
  /** Readings between window starts. Default windowLength / 2 (50 % overlap, as UCI-HAR). */
  stride: z.number().int().min(1).max(1_000_000).optional(),
  /** How late a reading may arrive and still be used (WindowBuffer). */
  reorderMs: z.number().min(0).max(600_000).default(250),
  /** Longest spacing between readings that is still filled. Default 5 sample periods. */
  maxGapMs: z.number().min(0.001).max(3_600_000).optional(),
  /**
   * Readings stamped more than this ahead of the agent's clock are dropped (READING_FUTURE): one reading from the
   * future would move the window buffer's watermark and make every genuine reading late. 5 s covers a sensor clock
   * that NTP keeps within a second or two, plus delivery jitter. (A simulator faster than real time stamps readings
   * ahead of the wall clock: `sitekd fleet` raises this for its agents.)
   */
  maxClockSkewMs: z.number().int().min(0).max(366 * 86_400_000).default(5000),
  /** Default `sitekd-agent-data/{site}/{id}` (relative to the working directory). */
  dataDir: Path.optional(),
  /** The hub's Ed25519 public key(s), PEM. Without one, every model manifest is refused (unsigned = untrusted). */
  hubPublicKeyFile: OneOrMany(Path).optional(),
  hubPublicKeyPem: OneOrMany(z.string().min(40).max(16_384)).optional(),
  /** A model artifact to serve until the hub sends one; ignored once the store holds a model. */
  modelFile: Path.optional(),
  upload: UploadConfigSchema.prefault({}),
  /** Cap of the on-disk sample outbox; the oldest batches are dropped first (agent/outbox.ts). 64 MiB. */
  outboxMaxBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * MiB).default(64 * MiB),
  /** Batches older than this are dropped. Default: kept until acked or dropped by the cap. */
  outboxMaxAgeMs: z.number().int().min(1000).optional(),
  telemetryIntervalMs: z.number().int().min(100).max(86_400_000).default(10_000),
  /** Encoding of status, predictions and telemetry: json lets `mosquitto_sub` print them as text. */
  payloadFormat: z.enum(['msgpack', 'json']).default('msgpack'),
  backend: BackendNameSchema.default('auto'),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  /** Largest manifest or ack accepted (bytes, checked before parsing). 1 MiB. */
  maxMessageBytes: z.number().int().min(1024).max(256 * MiB).default(MiB),
  /** A model transfer with no new chunk for this long is reported in status and asks again for the missing chunks. */
  modelStallMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Largest sensor message accepted. 64 KiB. */
  maxSensorBytes: z.number().int().min(64).max(16 * MiB).default(64 * 1024),
  /** Seed of the sample selector's random share. Default: random per start. */
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
});

export const AgentConfigSchema = ConfigObject.transform((c) => ({
  ...c,
  stride: c.stride ?? Math.max(1, Math.floor(c.windowLength / 2)),
  dataDir: c.dataDir ?? `sitekd-agent-data/${c.site}/${c.id}`,
  sensors: c.sensors.map((s) => ({ ...s, channels: s.channels ?? [...c.channels] })),
  // A broker with authentication binds the client id to the user name (docs/protocol.md, Security).
  broker: { ...c.broker, clientId: c.broker.clientId ?? c.broker.username ?? `sitekd-agent-${c.site}-${c.id}` },
}));

export type AgentConfigInput = z.input<typeof AgentConfigSchema>;
export type AgentConfig = DeepReadonly<z.output<typeof AgentConfigSchema>>;

/** Validates and freezes a config value; CONFIG_INVALID lists every problem with its path. */
export function parseAgentConfig(raw: unknown): AgentConfig {
  return parseConfig(AgentConfigSchema, raw, 'agent configuration');
}

/** defaults < file < overrides, validated and frozen. */
export function loadAgentConfig(opts: { file?: string | undefined; overrides: unknown; readText: (p: string) => string }): AgentConfig {
  return loadConfig({ schema: AgentConfigSchema, what: 'agent configuration', file: opts.file, after: [opts.overrides], readText: opts.readText });
}

/** The trusted hub keys: inline PEMs plus the contents of the key files. */
export function listHubKeys(config: AgentConfig, readText: (p: string) => string): string[] {
  const many = <T>(v: T | readonly T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? [...(v as readonly T[])] : [v as T]);
  const pems = many(config.hubPublicKeyPem);
  for (const file of many(config.hubPublicKeyFile)) {
    try {
      pems.push(readText(file));
    } catch (cause) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read hub public key ${file}`, { cause, details: { path: file } });
    }
  }
  return pems;
}

/** The config with secrets replaced, for the start-up log. */
export function redactedConfig(config: AgentConfig): unknown {
  return { ...config, broker: { ...config.broker, ...(config.broker.password !== undefined ? { password: '***' } : {}) } };
}

/**
 * The hub's configuration: one strict zod schema, loaded by the shared loader (shared/config-loader.ts) as schema
 * defaults < JSON file (`--config FILE`) < command-line flags, and deep-frozen. Unknown keys are an error, every
 * number is bounded, and any failure is `CONFIG_INVALID` (the command exits 78, EX_CONFIG, so systemd does not
 * restart it in a loop).
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { loadConfig, parseConfig, type DeepReadonly } from '../shared/config-loader';
import { ID_PATTERN, isValidSiteId } from '../shared/protocol/topics';
import { gateMinHeldOut } from './jobs/gate';
import { validateSchedule } from './jobs/scheduler';

const SiteId = z.string().refine(isValidSiteId, 'must be a site id: 1-64 of [A-Za-z0-9_.-], starting with a letter or digit, not "hub"');
const Path = z.string().min(1).max(4096);

/** Domain ids per `--source` at most. */
export const MAX_SOURCE_DOMAINS = 100;

/** Splits a `--source` value (`2`, `2,7,12`, spaces allowed) into its domain ids; empty items are dropped. */
export function sourceIds(source: string): string[] {
  return source.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const SourceSchema = z
  .union([z.string().max(4096), z.array(z.string().max(200)).max(MAX_SOURCE_DOMAINS)])
  .transform((v, ctx) => {
    const ids = typeof v === 'string' ? sourceIds(v) : v.map((s) => s.trim());
    const problem =
      ids.length === 0 ? 'needs at least one domain id'
      : ids.length > MAX_SOURCE_DOMAINS ? `at most ${MAX_SOURCE_DOMAINS} domain ids`
      : ids.find((id) => id === '' || id.length > 200 || id.includes(',')) !== undefined ? 'domain ids must be 1-200 characters without commas'
      : new Set(ids).size !== ids.length ? `a domain id is listed twice (${ids.join(',')})`
      : undefined;
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return ids.join(',');
  });

/** A labelled evaluation set for one site, supplied by an operator: a domain of a dataset in the `--data` layout. */
const LabelledSiteSchema = z.strictObject({
  /** Dataset directory (manifest.json) or a root holding HAR/. */
  data: Path,
  /** Domain id in that dataset; its test split is scored. */
  domain: z.string().min(1).max(200),
});

export const HubConfigSchema = z
  .strictObject({
    /** Dataset directory (or data root) holding the labelled source domain. */
    data: Path,
    /**
     * Labelled source domain id, or several comma-separated (`2,7,12,9,6`, or a JSON array in the file): their train
     * splits are concatenated into one source set (hub/models/source-data.ts). Normalised to `a,b,c` (spaces dropped).
     */
    source: SourceSchema,
    /** A teacher artifact (`sitekd train-teacher --out`); without it the hub trains one at first start. */
    teacher: Path.optional(),
    /** Keys, teacher, published models, the sample store and the site registry live here. */
    stateDir: Path.default('./sitekd-hub-state'),
    /** Sites served from the start (each gets the generic student until it has its own). */
    sites: z.array(SiteId).max(10_000).default([]),
    /** Sites first heard of through an agent's status also get the generic student (off: only `sites`). */
    autoAddSites: z.boolean().default(true),
    /** Upper bound on the sites the hub serves (an open embedded broker lets anyone invent sites). */
    maxSites: z.number().int().min(1).max(10_000).default(1000),

    // Broker
    /** Port of the embedded aedes broker; 0 = any free port. Ignored with `broker`. */
    mqttPort: z.number().int().min(0).max(65_535).default(1883),
    /** Interface the embedded broker listens on (0.0.0.0 for agents on other machines). */
    mqttHost: z.string().min(1).max(255).default('127.0.0.1'),
    /** An external broker (mqtt://, mqtts://, ws://, wss://); no embedded broker is started then. */
    broker: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, 'must be a URL like mqtt://host:1883 or mqtts://host:8883').optional(),
    username: z.string().min(1).max(256).optional(),
    password: z.string().max(4096).optional(),
    /** PEM files for TLS. */
    ca: Path.optional(),
    cert: Path.optional(),
    key: Path.optional(),
    /**
     * One of several hubs sharing `broker` and `stateDir` (docs/scaling.md "Several hubs"): each site is served by one
     * live hub, chosen by rendezvous hashing, under a per-site lock. Unset: the hub serves every site alone.
     */
    hubId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/, 'must be 1-32 of [A-Za-z0-9_.-], starting with a letter or digit').refine((id) => id !== 'reply', 'the hub id "reply" is reserved').optional(),
    /**
     * Also the hub's user name on its embedded broker (client id = user name, hub/mqtt/broker-auth.ts). With `hubId` and
     * this left at its default, `sitekd-hub-<hubId>`: two clients with one id would throw each other off the broker.
     */
    clientId: z.string().regex(ID_PATTERN).default('sitekd-hub'),
    /** The embedded broker without authentication: anyone who reaches it reads and writes every topic (ignored with `broker`). */
    allowAnonymous: z.boolean().default(false),
    /** PEM certificate chain and key: the embedded broker listens with TLS (mqtts://). */
    tlsCert: Path.optional(),
    tlsKey: Path.optional(),
    /** Embedded broker limits (hub/mqtt/broker-limits.ts): largest packet a client may send, header included. */
    brokerMaxPacketBytes: z.number().int().min(4096).max(268_435_455).default(256 * 1024),
    /** Embedded broker: MQTT sessions at once. */
    maxConnections: z.number().int().min(1).max(1_000_000).default(1024),
    /** Embedded broker: retained payload bytes in total, and per identity other than the hub. */
    maxRetainedBytes: z.number().int().min(1024).max(2 ** 40).default(256 * 1024 * 1024),
    maxRetainedBytesPerClient: z.number().int().min(1024).max(2 ** 40).default(1024 * 1024),
    /** Embedded broker: subscriptions per client (the hub's own are not counted). */
    maxSubscriptionsPerClient: z.number().int().min(1).max(100_000).default(128),
    /** Our cap on any packet we send (MQTT 3.1.1 brokers do not announce theirs); chunks are cut to fit it. */
    maxPacketBytes: z.number().int().min(4096).max(268_435_455).default(256 * 1024),
    /** Preferred model chunk size; lowered to fit `maxPacketBytes` (64 KiB fits every broker in docs/ecosystem.md §3.4). */
    chunkBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
    // Operator's view (hub/ops/)
    /** Port of the HTTP server (`/metrics`, `/healthz`, `/readyz`); 0 = any free port; unset = no HTTP server. */
    httpPort: z.number().int().min(0).max(65_535).optional(),
    /** Interface of the HTTP server; unset = the embedded broker's `mqttHost`, so metrics reach no further than the broker. */
    httpHost: z.string().min(1).max(255).optional(),
    /**
     * An agent's drift score above this raises the `drift` alert. The score is the rise of mean normalised predictive
     * entropy since its model was activated (agent/telemetry.ts, range −1…1); 0.15 is a starting point, not measured.
     */
    driftAlertThreshold: z.number().min(-1).max(1).default(0.15),
    /** This many failed rounds of a site in a row (skipped ones not counted) raise the `rounds-failing` alert. */
    roundsFailingAlert: z.number().int().min(1).max(1000).default(2),
    /** The dashboard history (hub/ops/site-history.ts): one point per this many seconds, this many points per site. */
    historyBucketSeconds: z.number().min(0.1).max(86_400).default(60),
    historyPoints: z.number().int().min(2).max(100_000).default(1440),

    /** Inbound payloads above this are dropped unread (PAYLOAD_TOO_LARGE). */
    maxPayloadBytes: z.number().int().min(1024).max(268_435_455).default(16 * 1024 * 1024),

    // Training
    /** tfjs backend of the training worker (wasm: the custom-gradient convs of shared/ml/ops.ts are fast there). */
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('wasm'),
    /** Student epochs of a redistillation round (and of the generic student). */
    epochs: z.number().int().min(1).max(10_000).default(10),
    /** Teacher epochs when the hub trains its own teacher. */
    teacherEpochs: z.number().int().min(1).max(10_000).default(10),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
    /** UNI-KD flags: `code` (released code) or `paper` (paper intent), see shared/ml/algorithms/unikd-options.ts. */
    preset: z.enum(['code', 'paper']).default('code'),
    /**
     * How a round makes the site's candidate: `site-adapt` (the generic student adapted to the site's windows without
     * gradient steps, shared/ml/site-adapt.ts) or `unikd` (UNI-KD from the hub's teacher on source + the site's
     * windows). The default is the one `npm run bench:adaptation` measures better (bench/results/adaptation-har.md).
     */
    roundRecipe: z.enum(['site-adapt', 'unikd']).default('site-adapt'),
    /**
     * Rounds of different sites at once, each in its own worker thread (a site never has two), and the size of the hub's
     * warm worker pool (hub/worker/ml-pool.ts). Default: the machine's cores (`os.availableParallelism()`); 1 runs them
     * one after another.
     */
    roundConcurrency: z.number().int().min(1).max(64).default(() => Math.max(1, Math.min(64, availableParallelism()))),
    /** Nearest-centroid rounds of `site-adapt` after its soft start. */
    adaptIterations: z.number().int().min(0).max(100).default(1),
    /**
     * Share of the model's own (source) batch-norm statistics that `site-adapt` keeps against the site's (0: the site's
     * alone). docs/adaptation.md §1 has what each value measured.
     */
    adaptSourcePrior: z.number().min(0).max(1).default(0.25),
    /**
     * Largest turn of a site's 3-axis sensors about its vertical that `site-adapt` tries, either way, in steps of 10°
     * (0: none). Only for data sets whose channel names form x/y/z triples (shared/ml/sensor-frame.ts). The turn is
     * chosen by a vote of the generic student and `turnVoters` others; a turned candidate is judged by the reference
     * turned alike and must not be contradicted by the reference unturned, else the unturned candidate is judged
     * instead (docs/adaptation.md §1.5 has what it measured, with and without).
     */
    adaptTurnDegrees: z.number().min(0).max(180).default(40),
    /**
     * Extra teacher + generic student pairs (seeds after the hub's), made at first start after the generic student is
     * served and kept in the state directory, whose losses are summed with the generic student's to choose a site's
     * turn (read only with `adaptTurnDegrees`; rounds wait for them). One student's own loss picked a wrong turn about
     * one time in ten on HAR (`npm run bench:turn-vote`). Each costs a teacher and a student training once.
     */
    turnVoters: z.number().int().min(0).max(8).default(3),
    /**
     * How a `site-adapt` round gets the gate's evidence: `cross-fit` (two folds by batch hash, each judged by a
     * candidate and reference adapted to the other fold; the published student adapted to all windows) or `holdout`
     * (`holdoutFraction` of the batches never adapted to). docs/adaptation.md §2 says why cross-fitting is sound and
     * what it measured.
     */
    gateSplit: z.enum(['cross-fit', 'holdout']).default('cross-fit'),

    // Triggers
    /** node-cron expression, read in UTC; null = no schedule. */
    schedule: z.string().min(1).max(200).nullable().default('0 3 * * *'),
    /** Redistill a site once this many new windows arrived (0 = off); scheduled rounds also need this many (at least 1). */
    minNewWindows: z.number().int().min(0).max(100_000_000).default(0),
    /** Minimum time between two automatic rounds of one site. */
    cooldownMinutes: z.number().min(0).max(525_600).default(10),

    // Data and gate
    /**
     * Share of a site's returned batches kept out of training for the gate (by a hash of the batch id), when
     * `gateSplit` is `holdout` or the recipe `unikd` (cross-fitting always splits in halves). Half: the
     * label-free adaptation needs few windows, the gate's evidence grows with every judged one (at 0.2, 300 returned
     * windows gave 24–115 judged and almost every round was rejected for thin evidence: bench/results/adaptation-har.md).
     */
    holdoutFraction: z.number().min(0.01).max(0.9).default(0.5),
    /**
     * A round is skipped with fewer windows than this to train on (adapt to; with `gateSplit: cross-fit`, in each of
     * the two folds, since each fold's candidate is adapted to one fold) ... Batch-norm statistics and class centroids
     * of fewer windows were too noisy: rounds on 75 windows published a student 3.3 points worse (sitekd adapt-eval,
     * HAR site 18, --min-train-windows 64 against 128).
     */
    minTrainWindows: z.number().int().min(2).max(10_000_000).default(128),
    /**
     * ... or than this to judge the candidate on (uniformly sampled held-out windows). Never below the smallest held-out
     * set on which the gate could pass at `gateConfidence` and `gateMargin` (hub/jobs/gate.ts `gateMinHeldOut`, 6 at
     * the defaults): the loaded config holds the larger of the two. Set it to demand more evidence than that.
     */
    minHeldOutWindows: z.number().int().min(1).max(10_000_000).optional(),
    /** Newest windows of a site a round reads at most. */
    maxRoundWindows: z.number().int().min(2).max(10_000_000).default(20_000),
    /**
     * Whose predictions the gate's agreement is measured against: `adapted-teacher` (default: the hub's teacher adapted
     * to the site's training windows, label-free and deterministic) or `teacher` (the hub's teacher as it is). See
     * hub/worker/ml-worker.ts.
     */
    gateReference: z.enum(['adapted-teacher', 'teacher']).default('adapted-teacher'),
    /** One-sided confidence with which the gate must show the candidate is not worse than `gateMargin` (hub/jobs/gate.ts). */
    gateConfidence: z.number().min(0.5).max(0.999).default(0.95),
    /**
     * How much worse than the current student the candidate may be, at that confidence: a share of windows (0.02 = 2
     * points of agreement or of accuracy; macro-F1 on a labelled set in the same points). A tie never publishes.
     */
    gateMargin: z.number().min(0).max(0.5).default(0.02),
    /**
     * Wins minus losses a candidate needs beyond "not worse", as a share of the judged windows (0.005 = half a point of
     * agreement or accuracy; at least one window): a near tie costs every agent a new version for nothing.
     */
    gateMinGain: z.number().min(0).max(0.5).default(0.005),
    /** Operator-supplied labelled sets, per site: the gate decides on them (accuracy and macro-F1 there). */
    labelledSites: z.record(SiteId, LabelledSiteSchema).default({}),
    /**
     * Fit a `site-adapt` candidate's classifier head to the site's labelled set when every class has at least 20
     * windows there (hub/worker/labelled-eval.ts; docs/adaptation.md §1 has what it measured).
     */
    fitLabelledHead: z.boolean().default(true),

    // Rollout watch and rollback (hub/jobs/rollout-watch.ts)
    /** After a round publishes, watch the new student on fresh windows and roll the site back on evidence against it. */
    rollbackOnEvidence: z.boolean().default(true),
    /** Confidence, over all looks of a watch together, that the replaced student agrees more with the reference. */
    rollbackConfidence: z.number().min(0.5).max(0.999).default(0.95),
    /** How much more often (a share of windows) the replaced student must agree with the reference, on top of the test. */
    rollbackMargin: z.number().min(0).max(0.5).default(0.02),
    /**
     * Windows before the first look. Never below what the per-look test needs to roll back at all (hub/jobs/
     * rollout-watch.ts `watchPlan`, 9 at the defaults), which is what applies when unset.
     */
    rollbackMinWindows: z.number().int().min(1).max(10_000_000).optional(),
    /** Uniformly sampled windows from agents serving the new student after which the watch ends (confirmed). */
    rollbackWindowBudget: z.number().int().min(1).max(10_000_000).default(256),
    /** Versions of each site whose artifacts are kept for rollbacks (the newest of its history). */
    keepModelVersions: z.number().int().min(2).max(100).default(5),

    // Store and registry
    maxWindowsPerSite: z.number().int().min(1).max(100_000_000).default(50_000),
    /** Bytes of the batches held; their pack files are compacted once they take more than twice that (hub/store/pack-compaction.ts). */
    maxStoreBytes: z.number().int().min(1024 * 1024).max(2 ** 50).default(4 * 1024 ** 3),
    /**
     * Sample batches waiting to be made durable beyond which a new one is answered `SITEKD_ERR_HUB_BUSY` with
     * `ingestRetryAfterMs` (the agent resends it then) instead of queueing: a full hub says so at once rather than
     * letting every ack grow late (docs/scaling.md). 4000 is two seconds of 2,000 agents' batches: a hub starved of
     * CPU for a moment drains that in about a second, while answering busy adds 1.5–2.5 s to each such batch.
     */
    ingestMaxPending: z.number().int().min(1).max(1_000_000).default(4000),
    ingestRetryAfterMs: z.number().int().min(0).max(3_600_000).default(2000),
    /** An online agent silent for longer is reported stale. */
    staleAfterSeconds: z.number().int().min(1).max(86_400 * 30).default(300),
    /** How often hub/status is refreshed even without changes. */
    statusIntervalSeconds: z.number().int().min(1).max(86_400).default(30),
    /** How long a stop waits for a running job before aborting it. */
    shutdownTimeoutSeconds: z.number().int().min(0).max(86_400).default(60),
  })
  .superRefine((c, ctx) => {
    if (c.schedule !== null && c.schedule !== undefined) {
      try {
        validateSchedule(c.schedule);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['schedule'], message: (err as Error).message });
      }
    }
    if ((c.cert === undefined) !== (c.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['cert'], message: 'cert and key go together' });
    }
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tlsCert'], message: 'tlsCert and tlsKey go together' });
    }
    if (c.broker !== undefined && c.tlsCert !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['tlsCert'], message: 'tlsCert and tlsKey configure the embedded broker; an external broker (broker) has its own TLS settings' });
    }
    if (c.hubId !== undefined && c.broker === undefined) {
      ctx.addIssue({ code: 'custom', path: ['hubId'], message: 'several hubs share one external broker: give broker with hubId' });
    }
    if (c.broker === undefined && c.brokerMaxPacketBytes < c.maxPacketBytes) {
      ctx.addIssue({ code: 'custom', path: ['brokerMaxPacketBytes'], message: `must be at least maxPacketBytes (${c.maxPacketBytes}): the hub's own chunks must fit` });
    }
  })
  .transform((c) => ({
    ...c, clientId: c.hubId !== undefined && c.clientId === 'sitekd-hub' ? `sitekd-hub-${c.hubId}` : c.clientId, minHeldOutWindows: Math.max(c.minHeldOutWindows ?? 1, gateMinHeldOut({ confidence: c.gateConfidence, margin: c.gateMargin, minGain: c.gateMinGain })) }));

export type HubConfig = DeepReadonly<z.output<typeof HubConfigSchema>>;
export type HubConfigInput = z.input<typeof HubConfigSchema>;

/** Parses a complete config object (file and flags already merged). Throws CONFIG_INVALID listing every issue. */
export function parseHubConfig(value: unknown): HubConfig {
  return parseConfig(HubConfigSchema, value, 'hub configuration');
}

/**
 * schema defaults < `base` < file < `env` < flags. `flags` holds only what was given on the command line, `base`
 * deployment defaults (systemd's STATE_DIRECTORY), `env` what the environment sets (SITEKD_MQTT_PASSWORD, so a
 * password need not sit in the file or in `ps`; SITEKD_BACKEND); all already converted to the schema's types. A key
 * whose value is undefined overrides nothing.
 */
export function loadHubConfig(opts: { file?: string; flags: Record<string, unknown>; base?: Record<string, unknown>; env?: Record<string, unknown> }): HubConfig {
  return loadConfig({
    schema: HubConfigSchema,
    what: 'hub configuration',
    file: opts.file,
    before: [opts.base ?? {}],
    after: [opts.env ?? {}, opts.flags],
  });
}

/** The config for the startup log: secrets replaced. */
export function redactedConfig(c: HubConfig): Record<string, unknown> {
  return { ...c, ...(c.password !== undefined ? { password: '***' } : {}) };
}

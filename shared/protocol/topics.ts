/**
 * Every MQTT topic of the wire protocol (docs/protocol.md), as builders, one parser and subscription filters.
 *
 * Layout under the root `sitekd/v1` (docs/ecosystem.md §3.1: general → specific, agent id at level 4 so a Mosquitto ACL
 * `pattern readwrite sitekd/v1/+/%u/#` confines each agent; at most 7 slashes and well under 256 bytes, AWS-safe):
 *
 *   {site}/{agent}/status | predictions | telemetry | samples      {site}/{agent}/samples/ack
 *   {site}/model                                                   {site}/model/{version}/chunk/{i}
 *   hub/status | jobs | cmd                                        hub/reply/{client}
 *
 * Ids (site, agent, client, model version) are single topic levels: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`, so never a
 * `/`, `+`, `#`, space or leading `$`. Two ids are reserved so that no topic has two readings: the site `hub` (else
 * `hub/reply/status` would also be the status of agent "reply" at site "hub") and the agent `model` (else an agent's
 * subtree `{site}/model/...` would overlap the site's model topics).
 * Filters with `+` can still match a foreign kind (`+/+/status` matches `hub/reply/status`): dispatch on
 * `parseTopic`, never on the filter a message arrived through.
 */
import { ErrorCode, SitekdError } from '../errors';

export const ROOT_TOPIC = 'sitekd/v1';
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const RESERVED_SITE_IDS: readonly string[] = ['hub'];
export const RESERVED_AGENT_IDS: readonly string[] = ['model'];
/** Upper bound of a model's chunk count; chunk indices are 0 … MAX_CHUNKS − 1. */
export const MAX_CHUNKS = 65_536;
/** Longest topic we accept as a `replyTo` (the MQTT limit is 65,535 bytes; AWS IoT allows 256). */
export const MAX_TOPIC_LENGTH = 256;

export type AgentTopicKind = 'status' | 'predictions' | 'telemetry' | 'samples' | 'samplesAck';
export type HubTopicKind = 'hubStatus' | 'hubJobs' | 'hubCmd';
export type TopicKind = AgentTopicKind | 'model' | 'modelChunk' | HubTopicKind | 'reply';

export type ParsedTopic =
  | { readonly kind: AgentTopicKind; readonly site: string; readonly agent: string }
  | { readonly kind: 'model'; readonly site: string }
  | { readonly kind: 'modelChunk'; readonly site: string; readonly version: string; readonly index: number }
  | { readonly kind: HubTopicKind }
  | { readonly kind: 'reply'; readonly client: string };

export interface TopicRule {
  readonly qos: 0 | 1;
  readonly retain: boolean;
  /** Who publishes. `any` = operators and the `sitekd` CLI. */
  readonly from: 'agent' | 'hub' | 'any';
}

/** Each kind's topic below the root; the placeholders are the ParsedTopic field names. */
export const TOPIC_PATTERNS: { readonly [K in TopicKind]: string } = {
  status: '{site}/{agent}/status',
  predictions: '{site}/{agent}/predictions',
  telemetry: '{site}/{agent}/telemetry',
  samples: '{site}/{agent}/samples',
  samplesAck: '{site}/{agent}/samples/ack',
  model: '{site}/model',
  modelChunk: '{site}/model/{version}/chunk/{index}',
  hubStatus: 'hub/status',
  hubJobs: 'hub/jobs',
  hubCmd: 'hub/cmd',
  reply: 'hub/reply/{client}',
};

/** QoS and retain per kind (docs/architecture.md; docs/ecosystem.md §3.2 for why predictions are QoS 0). */
export const TOPIC_RULES: { readonly [K in TopicKind]: TopicRule } = {
  status: { qos: 1, retain: true, from: 'agent' },
  predictions: { qos: 0, retain: false, from: 'agent' },
  telemetry: { qos: 0, retain: false, from: 'agent' },
  samples: { qos: 1, retain: false, from: 'agent' },
  samplesAck: { qos: 1, retain: false, from: 'hub' },
  model: { qos: 1, retain: true, from: 'hub' },
  modelChunk: { qos: 1, retain: true, from: 'hub' },
  hubStatus: { qos: 1, retain: true, from: 'hub' },
  hubJobs: { qos: 1, retain: false, from: 'hub' },
  hubCmd: { qos: 1, retain: false, from: 'any' },
  reply: { qos: 1, retain: false, from: 'hub' },
};

export const TOPIC_KINDS = Object.keys(TOPIC_PATTERNS) as readonly TopicKind[];

const AGENT_LEAVES: Readonly<Record<string, AgentTopicKind>> = {
  status: 'status',
  predictions: 'predictions',
  telemetry: 'telemetry',
  samples: 'samples',
};
const HUB_LEAVES: Readonly<Record<string, HubTopicKind>> = { status: 'hubStatus', jobs: 'hubJobs', cmd: 'hubCmd' };
const INDEX_PATTERN = /^(0|[1-9][0-9]{0,5})$/;
const ROOT_PATTERN = /^[^/+#\u0000$][^/+#\u0000]*(\/[^/+#\u0000]+)*$/;

// ---------------------------------------------------------------------------------------------------------------
// Validation

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

export function isValidSiteId(site: unknown): site is string {
  return isValidId(site) && !RESERVED_SITE_IDS.includes(site);
}

export function isValidAgentId(agent: unknown): agent is string {
  return isValidId(agent) && !RESERVED_AGENT_IDS.includes(agent);
}

/** A topic a client may publish to: no wildcards, no NUL, no `$` system prefix, no empty or over-long name. */
export function isValidPublishTopic(topic: unknown): topic is string {
  return (
    typeof topic === 'string' &&
    topic.length > 0 &&
    Buffer.byteLength(topic, 'utf8') <= MAX_TOPIC_LENGTH &&
    !/[+#\u0000]/.test(topic) &&
    !topic.startsWith('$')
  );
}

function invalid(what: string, value: unknown): SitekdError {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
  return new SitekdError(
    ErrorCode.TOPIC_INVALID,
    `invalid ${what} ${shown}: use 1-64 of [A-Za-z0-9_.-], starting with a letter or digit (no / + # or spaces)`,
    { details: { what } },
  );
}

function requireId(value: string, what: string, reserved: readonly string[] = []): string {
  if (!isValidId(value)) throw invalid(what, value);
  if (reserved.includes(value)) {
    throw new SitekdError(ErrorCode.TOPIC_INVALID, `the ${what} ${JSON.stringify(value)} is reserved`, { details: { what } });
  }
  return value;
}

export const requireSiteId = (site: string): string => requireId(site, 'site id', RESERVED_SITE_IDS);
export const requireAgentId = (agent: string): string => requireId(agent, 'agent id', RESERVED_AGENT_IDS);
export const requireClientId = (client: string): string => requireId(client, 'client id');
export const requireVersion = (version: string): string => requireId(version, 'model version');

function requireRoot(root: string): string {
  if (!ROOT_PATTERN.test(root)) throw invalid('topic root', root);
  return root;
}

function requireIndex(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS) {
    throw new SitekdError(ErrorCode.TOPIC_INVALID, `chunk index must be an integer in [0, ${MAX_CHUNKS}), got ${index}`, {
      details: { what: 'chunk index' },
    });
  }
  return index;
}

// ---------------------------------------------------------------------------------------------------------------
// Builders (throw TOPIC_INVALID: ids come from configuration, so a bad one is a setup mistake)

function agentTopic(site: string, agent: string, leaf: string, root: string): string {
  return `${requireRoot(root)}/${requireSiteId(site)}/${requireAgentId(agent)}/${leaf}`;
}

export const statusTopic = (site: string, agent: string, root = ROOT_TOPIC): string => agentTopic(site, agent, 'status', root);
export const predictionsTopic = (site: string, agent: string, root = ROOT_TOPIC): string =>
  agentTopic(site, agent, 'predictions', root);
export const telemetryTopic = (site: string, agent: string, root = ROOT_TOPIC): string =>
  agentTopic(site, agent, 'telemetry', root);
export const samplesTopic = (site: string, agent: string, root = ROOT_TOPIC): string => agentTopic(site, agent, 'samples', root);
export const samplesAckTopic = (site: string, agent: string, root = ROOT_TOPIC): string =>
  agentTopic(site, agent, 'samples/ack', root);

export function modelTopic(site: string, root = ROOT_TOPIC): string {
  return `${requireRoot(root)}/${requireSiteId(site)}/model`;
}

export function modelChunkTopic(site: string, version: string, index: number, root = ROOT_TOPIC): string {
  return `${modelTopic(site, root)}/${requireVersion(version)}/chunk/${requireIndex(index)}`;
}

export const hubStatusTopic = (root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/status`;
export const hubJobsTopic = (root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/jobs`;
export const hubCmdTopic = (root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/cmd`;
/**
 * The retained status of one of several hubs sharing a broker (`--hub-id`, docs/scaling.md "Several hubs"): presence
 * (its last will is `{state: 'offline'}`) and what `hub/status` holds for a single hub. The id `reply` is reserved:
 * `hub/reply/status` is the reply topic of a client named `status`.
 */
export const hubMemberStatusTopic = (hubId: string, root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/${requireHubId(hubId)}/status`;
export const RESERVED_HUB_IDS: readonly string[] = ['reply'];
export const requireHubId = (hubId: string): string => requireId(hubId, 'hub id', RESERVED_HUB_IDS);
/** The hub id of a `hubMemberStatusTopic`, or undefined for any other topic. */
export function parseHubMemberStatus(topic: string, root = ROOT_TOPIC): string | undefined {
  const levels = topic.startsWith(`${root}/hub/`) ? topic.slice(root.length + 5).split('/') : [];
  const [id, leaf] = levels;
  return levels.length === 2 && leaf === 'status' && isValidId(id) && !RESERVED_HUB_IDS.includes(id) ? id : undefined;
}

/** The default `replyTo` of a command sent by `client`. */
export const replyTopic = (client: string, root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/reply/${requireClientId(client)}`;

/** The inverse of `parseTopic`. */
export function buildTopic(t: ParsedTopic, root = ROOT_TOPIC): string {
  switch (t.kind) {
    case 'status':
      return statusTopic(t.site, t.agent, root);
    case 'predictions':
      return predictionsTopic(t.site, t.agent, root);
    case 'telemetry':
      return telemetryTopic(t.site, t.agent, root);
    case 'samples':
      return samplesTopic(t.site, t.agent, root);
    case 'samplesAck':
      return samplesAckTopic(t.site, t.agent, root);
    case 'model':
      return modelTopic(t.site, root);
    case 'modelChunk':
      return modelChunkTopic(t.site, t.version, t.index, root);
    case 'hubStatus':
      return hubStatusTopic(root);
    case 'hubJobs':
      return hubJobsTopic(root);
    case 'hubCmd':
      return hubCmdTopic(root);
    case 'reply':
      return replyTopic(t.client, root);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parser (never throws: topics arrive from the broker)

/** What a topic under `root` means, or undefined for anything that is not exactly one of TOPIC_PATTERNS. */
export function parseTopic(topic: string, root = ROOT_TOPIC): ParsedTopic | undefined {
  if (typeof topic !== 'string' || !topic.startsWith(`${root}/`)) return undefined;
  const levels = topic.slice(root.length + 1).split('/');
  const [a, b, c, d, e] = levels;
  switch (levels.length) {
    case 2: {
      if (a === 'hub') return b !== undefined && Object.hasOwn(HUB_LEAVES, b) ? { kind: HUB_LEAVES[b] as HubTopicKind } : undefined;
      return b === 'model' && isValidSiteId(a) ? { kind: 'model', site: a } : undefined;
    }
    case 3: {
      if (a === 'hub') return b === 'reply' && isValidId(c) ? { kind: 'reply', client: c } : undefined;
      if (c === undefined || !Object.hasOwn(AGENT_LEAVES, c)) return undefined;
      return isValidSiteId(a) && isValidAgentId(b) ? { kind: AGENT_LEAVES[c] as AgentTopicKind, site: a, agent: b } : undefined;
    }
    case 4:
      return c === 'samples' && d === 'ack' && isValidSiteId(a) && isValidAgentId(b) ? { kind: 'samplesAck', site: a, agent: b } : undefined;
    case 5: {
      if (b !== 'model' || d !== 'chunk' || !isValidSiteId(a) || !isValidId(c) || e === undefined || !INDEX_PATTERN.test(e)) {
        return undefined;
      }
      const index = Number(e);
      return index < MAX_CHUNKS ? { kind: 'modelChunk', site: a, version: c, index } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * True when the ids a payload carries agree with the topic it arrived on. A receiver must drop a message that
 * fails this: the broker's ACL confines a client by topic, not by payload.
 */
export function payloadMatchesTopic(t: ParsedTopic, payload: { readonly site?: unknown; readonly agent?: unknown }): boolean {
  if ('site' in t && payload.site !== undefined && payload.site !== t.site) return false;
  if ('agent' in t && payload.agent !== undefined && payload.agent !== t.agent) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Subscription filters

export const sub = {
  /** Everything sitekd publishes (`sitekd/v1/#`). */
  all: (root = ROOT_TOPIC): string => `${requireRoot(root)}/#`,
  allStatus: (root = ROOT_TOPIC): string => `${requireRoot(root)}/+/+/status`,
  allPredictions: (root = ROOT_TOPIC): string => `${requireRoot(root)}/+/+/predictions`,
  allTelemetry: (root = ROOT_TOPIC): string => `${requireRoot(root)}/+/+/telemetry`,
  allSamples: (root = ROOT_TOPIC): string => `${requireRoot(root)}/+/+/samples`,
  allModels: (root = ROOT_TOPIC): string => `${requireRoot(root)}/+/model`,
  /** Every chunk of every site's models (the hub watching its own retained topics). */
  allModelChunks: (root = ROOT_TOPIC): string => `${requireRoot(root)}/+/model/+/chunk/+`,
  siteStatus: (site: string, root = ROOT_TOPIC): string => `${requireRoot(root)}/${requireSiteId(site)}/+/status`,
  sitePredictions: (site: string, root = ROOT_TOPIC): string => `${requireRoot(root)}/${requireSiteId(site)}/+/predictions`,
  siteTelemetry: (site: string, root = ROOT_TOPIC): string => `${requireRoot(root)}/${requireSiteId(site)}/+/telemetry`,
  /** All chunks of one model version (retained: a new subscription receives every chunk the broker holds). */
  modelChunks: (site: string, version: string, root = ROOT_TOPIC): string =>
    `${modelTopic(site, root)}/${requireVersion(version)}/chunk/+`,
  /** Every hub's `hubMemberStatusTopic` (also matches `hub/reply/status`: use parseHubMemberStatus). */
  hubMembers: (root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/+/status`,
  siteSamples: (site: string, root = ROOT_TOPIC): string => `${requireRoot(root)}/${requireSiteId(site)}/+/samples`,
  siteModel: (site: string, root = ROOT_TOPIC): string => modelTopic(site, root),
  siteModelChunks: (site: string, root = ROOT_TOPIC): string => `${modelTopic(site, root)}/+/chunk/+`,
  /** `hub/status`, `hub/jobs` and `hub/cmd` (not replies). */
  hub: (root = ROOT_TOPIC): string => `${requireRoot(root)}/hub/+`,
} as const;

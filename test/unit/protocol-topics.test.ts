import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import {
  buildTopic,
  hubCmdTopic,
  hubJobsTopic,
  hubStatusTopic,
  isValidPublishTopic,
  MAX_CHUNKS,
  modelChunkTopic,
  modelTopic,
  type ParsedTopic,
  parseTopic,
  payloadMatchesTopic,
  predictionsTopic,
  replyTopic,
  samplesAckTopic,
  samplesTopic,
  statusTopic,
  sub,
  telemetryTopic,
  TOPIC_KINDS,
  TOPIC_PATTERNS,
  TOPIC_RULES,
  type TopicKind,
} from '../../shared/protocol/topics';

/** MQTT 3.1.1 §4.7 topic filter matching, for checking the `sub` helpers. */
function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const ONE_OF_EACH: { readonly [K in TopicKind]: ParsedTopic & { kind: K } } = {
  status: { kind: 'status', site: 'site-a', agent: 'gw-1' },
  predictions: { kind: 'predictions', site: 'site-a', agent: 'gw-1' },
  telemetry: { kind: 'telemetry', site: 'site-a', agent: 'gw-1' },
  samples: { kind: 'samples', site: 'site-a', agent: 'gw-1' },
  samplesAck: { kind: 'samplesAck', site: 'site-a', agent: 'gw-1' },
  model: { kind: 'model', site: 'site-a' },
  modelChunk: { kind: 'modelChunk', site: 'site-a', version: 's-1.2_3', index: 17 },
  hubStatus: { kind: 'hubStatus' },
  hubJobs: { kind: 'hubJobs' },
  hubCmd: { kind: 'hubCmd' },
  reply: { kind: 'reply', client: 'ops-1' },
};

test('builders produce the documented topics', () => {
  assert.equal(statusTopic('site-a', 'gw-1'), 'sitekd/v1/site-a/gw-1/status');
  assert.equal(predictionsTopic('site-a', 'gw-1'), 'sitekd/v1/site-a/gw-1/predictions');
  assert.equal(telemetryTopic('site-a', 'gw-1'), 'sitekd/v1/site-a/gw-1/telemetry');
  assert.equal(samplesTopic('site-a', 'gw-1'), 'sitekd/v1/site-a/gw-1/samples');
  assert.equal(samplesAckTopic('site-a', 'gw-1'), 'sitekd/v1/site-a/gw-1/samples/ack');
  assert.equal(modelTopic('site-a'), 'sitekd/v1/site-a/model');
  assert.equal(modelChunkTopic('site-a', 's-1', 0), 'sitekd/v1/site-a/model/s-1/chunk/0');
  assert.equal(hubStatusTopic(), 'sitekd/v1/hub/status');
  assert.equal(hubJobsTopic(), 'sitekd/v1/hub/jobs');
  assert.equal(hubCmdTopic(), 'sitekd/v1/hub/cmd');
  assert.equal(replyTopic('ops-1'), 'sitekd/v1/hub/reply/ops-1');
});

test('every kind round-trips through buildTopic and parseTopic, at the default and a custom root', () => {
  assert.deepEqual([...TOPIC_KINDS].sort(), Object.keys(ONE_OF_EACH).sort());
  for (const root of [undefined, 'sitekd/v1/test-xyz', 'x']) {
    for (const parsed of Object.values(ONE_OF_EACH)) {
      const topic = buildTopic(parsed, root);
      assert.deepEqual(parseTopic(topic, root), parsed, topic);
      // The pattern describes the topic.
      const pattern = TOPIC_PATTERNS[parsed.kind].replace(/\{(\w+)\}/g, (_, k: string) => String((parsed as unknown as Record<string, unknown>)[k]));
      assert.equal(topic, `${root ?? 'sitekd/v1'}/${pattern}`);
      if (root === 'x') assert.equal(parseTopic(topic), undefined, `${topic} must not parse under the default root`);
    }
  }
});

test('ids with slashes, wildcards, spaces or bad lengths are refused with TOPIC_INVALID', () => {
  const bad = ['', 'a/b', 'a+', '+', '#', 'a#b', 'a b', '.hidden', '-x', '_x', 'x'.repeat(65), 'été', 'a\u0000b', '$SYS'];
  for (const id of bad) {
    for (const build of [
      () => statusTopic(id, 'gw-1'),
      () => statusTopic('site-a', id),
      () => modelTopic(id),
      () => modelChunkTopic('site-a', id, 0),
      () => replyTopic(id),
    ]) {
      assert.throws(build, (e: unknown) => isSitekdError(e, ErrorCode.TOPIC_INVALID), JSON.stringify(id));
    }
  }
  assert.equal(statusTopic('A', 'x'.repeat(64)), `sitekd/v1/A/${'x'.repeat(64)}/status`);
});

test('reserved ids and bad chunk indices are refused', () => {
  const isTopicInvalid = (e: unknown): boolean => isSitekdError(e, ErrorCode.TOPIC_INVALID);
  assert.throws(() => statusTopic('hub', 'gw-1'), isTopicInvalid);
  assert.throws(() => modelTopic('hub'), isTopicInvalid);
  assert.throws(() => statusTopic('site-a', 'model'), isTopicInvalid);
  for (const i of [-1, 1.5, MAX_CHUNKS, Number.NaN]) assert.throws(() => modelChunkTopic('site-a', 's-1', i), isTopicInvalid);
  for (const root of ['', '/x', 'x/', 'a//b', 'a/+', '#', '$SYS/x']) assert.throws(() => hubStatusTopic(root), isTopicInvalid);
});

test('parseTopic returns undefined for anything that is not exactly a protocol topic', () => {
  const nots = [
    'sitekd/v1',
    'sitekd/v1/',
    'sitekd/v2/site-a/gw-1/status',
    'other/site-a/gw-1/status',
    'sitekd/v1/site-a/gw-1/status/',
    'sitekd/v1//gw-1/status',
    'sitekd/v1/+/gw-1/status',
    'sitekd/v1/site-a/#',
    'sitekd/v1/site-a/gw 1/status',
    'sitekd/v1/site-a/gw-1/unknown',
    'sitekd/v1/site-a/gw-1/samples/nack',
    'sitekd/v1/site-a/gw-1/status/ack',
    'sitekd/v1/hub/gw-1/status',
    'sitekd/v1/site-a/model/status',
    'sitekd/v1/hub/model',
    'sitekd/v1/hub/other',
    'sitekd/v1/hub/reply',
    'sitekd/v1/hub/reply/a/b',
    'sitekd/v1/hub/reply/+',
    'sitekd/v1/site-a/model/s-1/chunk/01',
    'sitekd/v1/site-a/model/s-1/chunk/-1',
    'sitekd/v1/site-a/model/s-1/chunk/1e3',
    'sitekd/v1/site-a/model/s-1/chunk/',
    `sitekd/v1/site-a/model/s-1/chunk/${MAX_CHUNKS}`,
    'sitekd/v1/site-a/model/s/1/chunk/0',
    'sitekd/v1/site-a/model/s-1/part/0',
  ];
  for (const t of nots) assert.equal(parseTopic(t), undefined, t);
  assert.deepEqual(parseTopic(`sitekd/v1/site-a/model/s-1/chunk/${MAX_CHUNKS - 1}`), {
    kind: 'modelChunk',
    site: 'site-a',
    version: 's-1',
    index: MAX_CHUNKS - 1,
  });
});

test('subscription filters match exactly the topics of their kind', () => {
  const cases: Array<[string, TopicKind[]]> = [
    [sub.allStatus(), ['status']],
    [sub.allPredictions(), ['predictions']],
    [sub.allTelemetry(), ['telemetry']],
    [sub.allSamples(), ['samples']],
    [sub.allModels(), ['model']],
    [sub.siteStatus('site-a'), ['status']],
    [sub.sitePredictions('site-a'), ['predictions']],
    [sub.siteTelemetry('site-a'), ['telemetry']],
    [sub.modelChunks('site-a', 's-1.2_3'), ['modelChunk']],
    [sub.hub(), ['hubStatus', 'hubJobs', 'hubCmd']],
    [sub.all(), [...TOPIC_KINDS]],
  ];
  for (const [filter, kinds] of cases) {
    for (const parsed of Object.values(ONE_OF_EACH)) {
      assert.equal(filterMatches(filter, buildTopic(parsed)), kinds.includes(parsed.kind), `${filter} vs ${parsed.kind}`);
    }
  }
  assert.equal(sub.allSamples(), 'sitekd/v1/+/+/samples');
  assert.equal(sub.allSamples('sitekd/v1/test-xyz'), 'sitekd/v1/test-xyz/+/+/samples');
  assert.equal(filterMatches(sub.siteStatus('site-a'), statusTopic('site-b', 'gw-1')), false);
  assert.equal(filterMatches(sub.modelChunks('site-a', 's-1'), modelChunkTopic('site-a', 's-2', 0)), false);
});

test('the rules give QoS 1 retained for state, QoS 0 for the live streams', () => {
  for (const k of ['status', 'model', 'modelChunk', 'hubStatus'] as const) assert.deepEqual([TOPIC_RULES[k].qos, TOPIC_RULES[k].retain], [1, true]);
  for (const k of ['predictions', 'telemetry'] as const) assert.deepEqual([TOPIC_RULES[k].qos, TOPIC_RULES[k].retain], [0, false]);
  for (const k of ['samples', 'samplesAck', 'hubJobs', 'hubCmd', 'reply'] as const) {
    assert.deepEqual([TOPIC_RULES[k].qos, TOPIC_RULES[k].retain], [1, false]);
  }
});

test('isValidPublishTopic refuses wildcards, $-topics, empty and over-long names', () => {
  assert.equal(isValidPublishTopic('sitekd/v1/hub/reply/ops-1'), true);
  assert.equal(isValidPublishTopic('my/replies'), true);
  for (const t of ['', 'a/+/b', 'a/#', '$SYS/x', 'a\u0000b', 'x'.repeat(257), 42, undefined]) assert.equal(isValidPublishTopic(t), false, String(t));
});

test('payloadMatchesTopic catches a payload that names another site or agent', () => {
  const t = ONE_OF_EACH.samples;
  assert.equal(payloadMatchesTopic(t, { site: 'site-a', agent: 'gw-1' }), true);
  assert.equal(payloadMatchesTopic(t, { site: 'site-b', agent: 'gw-1' }), false);
  assert.equal(payloadMatchesTopic(t, { site: 'site-a', agent: 'gw-2' }), false);
  assert.equal(payloadMatchesTopic(ONE_OF_EACH.model, { site: 'site-a' }), true);
  assert.equal(payloadMatchesTopic(ONE_OF_EACH.model, { site: 'site-b' }), false);
  assert.equal(payloadMatchesTopic(ONE_OF_EACH.hubJobs, { site: 'site-b' }), true);
});

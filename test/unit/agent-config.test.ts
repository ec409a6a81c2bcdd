import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseCommandArgs } from '../../shared/cli/args';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { agentSpec, flagsToConfig } from '../../agent/cli';
import { HAR_CHANNELS, loadAgentConfig, parseAgentConfig } from '../../agent/config';
import { mergeLayers } from '../../shared/config-loader';

const minimal = { site: 'site-a', id: 'gw-1', broker: { url: 'mqtt://localhost:1883' }, sensors: [{ topic: 'plant/imu' }] };

function configError(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isSitekdError(err, ErrorCode.CONFIG_INVALID), String(err));
    return ((err.details?.['issues'] ?? []) as Array<{ path: string }>).map((i) => i.path);
  }
  assert.fail('expected CONFIG_INVALID');
}

test('a minimal config gets every default, derived values included', () => {
  const c = parseAgentConfig(minimal);
  assert.deepEqual(c.channels, HAR_CHANNELS);
  assert.equal(c.sampleRateHz, 50);
  assert.equal(c.windowLength, 128);
  assert.equal(c.stride, 64);
  assert.equal(c.dataDir, 'sitekd-agent-data/site-a/gw-1');
  assert.equal(c.broker.clientId, 'sitekd-agent-site-a-gw-1');
  assert.equal(c.broker.protocol, 'auto');
  assert.deepEqual(c.sensors[0]?.channels, HAR_CHANNELS, 'a sensor without a mapping sends every model channel');
  assert.equal(c.sensors[0]?.format, 'auto');
  assert.equal(c.payloadFormat, 'msgpack');
  assert.equal(c.upload.randomShare, 1);
  assert.equal(c.upload.maxBatch, 32);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.upload) && Object.isFrozen(c.sensors[0]));
  assert.equal(parseAgentConfig({ ...minimal, windowLength: 99 }).stride, 49);
});

test('unknown keys, bad ids, wildcard sensor topics and out-of-range numbers are CONFIG_INVALID with their paths', () => {
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, colour: 'red' })), ['(root)']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, site: 'hub' })), ['site']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, id: 'a/b' })), ['id']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, sensors: [{ topic: 'plant/#' }] })), ['sensors.0.topic']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, sensors: [] })), ['sensors']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, broker: { url: 'http://x' } })), ['broker.url']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, upload: { randomShare: 2 } })), ['upload.randomShare']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, windowLength: 4 })), ['windowLength']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, payloadFormat: 'xml' })), ['payloadFormat']);
  assert.deepEqual(configError(() => parseAgentConfig({ ...minimal, broker: { url: 'mqtt://x', protocol: 3 } })), ['broker.protocol']);
});

test('layers merge objects key by key and replace arrays: defaults < file < flags', () => {
  const file = { ...minimal, broker: { url: 'mqtt://file:1883', username: 'u' }, upload: { maxBatch: 8 }, sensors: [{ topic: 'a' }, { topic: 'b', channels: [null] }] };
  const merged = mergeLayers(file, { broker: { url: 'mqtt://flag:1883', password: undefined }, sensors: [{ topic: 'c' }] }) as Record<string, unknown>;
  assert.deepEqual(merged['broker'], { url: 'mqtt://flag:1883', username: 'u' });
  assert.deepEqual(merged['upload'], { maxBatch: 8 });
  assert.deepEqual(merged['sensors'], [{ topic: 'c' }]);
  const c = loadAgentConfig({ file: 'agent.json', overrides: { windowLength: 64 }, readText: () => JSON.stringify(file) });
  assert.equal(c.broker.url, 'mqtt://file:1883');
  assert.equal(c.windowLength, 64);
  assert.equal(c.stride, 32);
  assert.equal(c.upload.maxBatch, 8);
  assert.equal(c.upload.intervalMs, 30_000);
});

test('an unreadable or non-JSON config file is CONFIG_INVALID', () => {
  configError(() => loadAgentConfig({ file: 'missing.json', overrides: {}, readText: () => { throw new Error('ENOENT'); } }));
  configError(() => loadAgentConfig({ file: 'bad.json', overrides: {}, readText: () => '{"site":' }));
  configError(() => loadAgentConfig({ file: 'arr.json', overrides: {}, readText: () => '[1,2]' }));
});

test('command-line flags become a config layer', () => {
  const flags = parseCommandArgs(
    'agent',
    ['--site', 'site-b', '--id', 'gw-2', '--broker', 'mqtts://b:8883', '--sensor-topic', 'imu/1, imu/2', '--sensor-format', 'csv', '--protocol', '4', '--hub-key', 'k1.pem,k2.pem', '--window-length', '64', '--payload-format', 'json', '--insecure'],
    agentSpec.options,
  );
  const layer = flagsToConfig(flags, { SITEKD_MQTT_PASSWORD: 'pw' });
  const c = parseAgentConfig(mergeLayers(layer));
  assert.equal(c.site, 'site-b');
  assert.equal(c.broker.protocol, 4);
  assert.equal(c.broker.password, 'pw');
  assert.equal(c.broker.rejectUnauthorized, false);
  assert.deepEqual(c.sensors.map((s) => [s.topic, s.format]), [['imu/1', 'csv'], ['imu/2', 'csv']]);
  assert.deepEqual(c.hubPublicKeyFile, ['k1.pem', 'k2.pem']);
  assert.equal(c.windowLength, 64);
  assert.equal(c.payloadFormat, 'json');
  assert.throws(() => parseCommandArgs('agent', ['--window-length', 'x'], agentSpec.options), (e: unknown) => isSitekdError(e, ErrorCode.CLI_USAGE));
  assert.throws(() => parseCommandArgs('agent', ['--protocol', '3'], agentSpec.options), (e: unknown) => isSitekdError(e, ErrorCode.CLI_USAGE));
});

test('the log level: --log-level, else --verbose, else the file, else info', () => {
  const level = (argv: string[], file: Record<string, unknown> = {}): string => {
    const flags = parseCommandArgs('agent', argv, agentSpec.options);
    return loadAgentConfig({ file: 'a.json', overrides: flagsToConfig(flags, {}), readText: () => JSON.stringify({ ...minimal, ...file }) }).logLevel;
  };
  assert.equal(level([]), 'info');
  assert.equal(level([], { logLevel: 'warn' }), 'warn');
  assert.equal(level(['--verbose'], { logLevel: 'warn' }), 'debug');
  assert.equal(level(['--log-level', 'error', '--verbose'], { logLevel: 'warn' }), 'error');
});

test('deploy/config/agent.example.json and agent.plant.example.json are valid configs', () => {
  // dist/test/unit → the repository root.
  const file = (name: string): string => path.join(__dirname, '..', '..', '..', 'deploy', 'config', name);
  const sim = loadAgentConfig({ file: file('agent.example.json'), overrides: {}, readText: (p) => fs.readFileSync(p, 'utf8') });
  assert.deepEqual(sim.sensors.map((s) => s.topic), ['sim/site-1/imu']);
  const plant = loadAgentConfig({ file: file('agent.plant.example.json'), overrides: {}, readText: (p) => fs.readFileSync(p, 'utf8') });
  assert.equal(plant.sensors.length, 2);
  assert.equal(plant.sensors[0]?.channels.at(-1), null);
});

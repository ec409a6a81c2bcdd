import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { parseCommandArgs } from '../../shared/cli/args';
import { isSitekdError } from '../../shared/errors';
import { hubSpec } from '../../hub/cli/specs';
import { loadHubConfig, parseHubConfig, redactedConfig, sourceIds } from '../../hub/config';
import { EXIT_CONFIG, flagsToConfig, hubCommand, parseLabelledSites } from '../../hub/main';

const hubFlags = (...argv: string[]): Record<string, unknown> => flagsToConfig(parseCommandArgs('hub', argv, hubSpec.options));

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpFile(content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-hubcfg-'));
  dirs.push(dir);
  const file = path.join(dir, 'hub.json');
  fs.writeFileSync(file, content);
  return file;
}

test('defaults fill what neither the file nor the flags give', () => {
  const c = parseHubConfig({ data: '/d', source: '2' });
  assert.equal(c.mqttPort, 1883);
  assert.equal(c.schedule, '0 3 * * *');
  assert.equal(c.epochs, 10);
  assert.equal(c.backend, 'wasm');
  assert.deepEqual(c.sites, []);
});

test('flags override the file, which overrides the defaults; undefined flags do not override', () => {
  const file = tmpFile(JSON.stringify({ data: '/from-file', source: '2', epochs: 3, mqttPort: 1999, sites: ['a'] }));
  const c = loadHubConfig({ file, flags: { epochs: 7, mqttPort: undefined, source: undefined } });
  assert.equal(c.data, '/from-file');
  assert.equal(c.epochs, 7);
  assert.equal(c.mqttPort, 1999);
  assert.deepEqual(c.sites, ['a']);
  assert.deepEqual(loadHubConfig({ file, flags: hubFlags('--epochs', '5') }).epochs, 5);
});

test('the loaded config is frozen all the way down', () => {
  const c = loadHubConfig({ flags: hubFlags('--data', '/d', '--source', '2', '--sites', 'a,b', '--labelled-sites', 'a=1') });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.sites) && Object.isFrozen(c.labelledSites) && Object.isFrozen(c.labelledSites['a']));
  assert.throws(() => (c.sites as string[]).push('c'), TypeError);
});

test('unknown keys, bad values, bad schedules and unreadable files are CONFIG_INVALID', () => {
  const bad: unknown[] = [
    { data: '/d', source: '2', epoch: 3 },
    { data: '/d', source: '2', mqttPort: 70_000 },
    { data: '/d', source: '2', schedule: '61 * * * *' },
    { data: '/d', source: '2', sites: ['hub'] },
    { data: '/d', source: '2', sites: ['a/b'] },
    { data: '/d', source: '2', cert: '/c.pem' },
    { source: '2' },
    { data: '/d', source: '2', labelledSites: { 'site-a': { data: '/x' } } },
    { data: '/d', source: '2', rollbackConfidence: 1 },
    { data: '/d', source: '2', rollbackWindowBudget: 0 },
    { data: '/d', source: '2', keepModelVersions: 1 },
  ];
  for (const b of bad) assert.throws(() => parseHubConfig(b), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'), JSON.stringify(b));
  assert.throws(() => loadHubConfig({ file: tmpFile('{not json'), flags: {} }), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'));
  assert.throws(() => loadHubConfig({ file: tmpFile('[1]'), flags: {} }), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'));
  assert.throws(() => loadHubConfig({ file: '/nonexistent/hub.json', flags: {} }), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'));
});

test('flags map to config keys: sites split, schedule off; bad flag values are usage errors', () => {
  const f = hubFlags('--sites', 'a, b,,c', '--schedule', 'off', '--mqtt-port', '0', '--backend', 'cpu', '--gate-reference', 'teacher');
  assert.deepEqual(f['sites'], ['a', 'b', 'c']);
  assert.equal(f['schedule'], null);
  assert.equal(f['mqttPort'], 0);
  assert.equal(f['backend'], 'cpu');
  assert.equal(f['gateReference'], 'teacher');
  assert.equal(hubFlags()['epochs'], undefined, 'an absent flag leaves the file or the default alone');
  for (const bad of [['--epochs', '-3'], ['--mqtt-port', '70000'], ['--backend', 'gpu'], ['--broker', 'localhost:1883'], ['--log-level', 'loud']]) {
    assert.throws(() => hubFlags(...bad), (e) => isSitekdError(e, 'SITEKD_ERR_CLI_USAGE'), bad.join(' '));
  }
  const c = parseHubConfig({ data: '/d', source: '2', password: 'x' });
  assert.equal(redactedConfig(c)['password'], '***');
});

test('gate settings: confidence and margin with defaults, and a minimum held-out size never below what the test needs', () => {
  const c = parseHubConfig({ data: '/d', source: '2' });
  assert.deepEqual([c.gateConfidence, c.gateMargin, c.gateMinGain, c.minHeldOutWindows], [0.95, 0.02, 0.005, 6]);
  assert.equal(parseHubConfig({ data: '/d', source: '2', minHeldOutWindows: 2 }).minHeldOutWindows, 6, 'raised to the computed minimum');
  assert.equal(parseHubConfig({ data: '/d', source: '2', minHeldOutWindows: 64 }).minHeldOutWindows, 64, 'an operator may demand more');
  assert.equal(parseHubConfig({ data: '/d', source: '2', gateConfidence: 0.99 }).minHeldOutWindows, 8);
  const f = hubFlags('--gate-confidence', '0.9', '--gate-margin', '0.05', '--gate-min-gain', '0.01');
  assert.deepEqual([f['gateConfidence'], f['gateMargin'], f['gateMinGain']], [0.9, 0.05, 0.01]);
  for (const bad of [{ gateConfidence: 1 }, { gateConfidence: 0.4 }, { gateMargin: -0.01 }, { gateMargin: 0.6 }, { gateMinGain: -0.1 }, { gateMinGain: 0.9 }, { gateTolerance: 0 }]) {
    assert.throws(() => parseHubConfig({ data: '/d', source: '2', ...bad }), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'), JSON.stringify(bad));
  }
  assert.throws(() => hubFlags('--gate-margin', 'lots'), (e) => isSitekdError(e, 'SITEKD_ERR_CLI_USAGE'));
});

test('--labelled-sites pairs sites with domains of --data or of another dataset', () => {
  assert.deepEqual(parseLabelledSites('site-1=11, site-2=13@/other/HAR', '/data/HAR'), {
    'site-1': { data: '/data/HAR', domain: '11' },
    'site-2': { data: '/other/HAR', domain: '13' },
  });
  assert.throws(() => parseLabelledSites('site-1', '/d'), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'));
  const c = loadHubConfig({ flags: flagsToConfig({ data: '/d', source: '2', 'labelled-sites': 'a=1', 'gate-reference': 'teacher' }) });
  assert.deepEqual(c.labelledSites, { a: { data: '/d', domain: '1' } });
  assert.equal(c.gateReference, 'teacher');
});

test('source: one domain id, or several comma-separated (flag) or as a JSON array (file), normalised to a,b,c', () => {
  assert.equal(parseHubConfig({ data: '/d', source: '2' }).source, '2');
  assert.equal(parseHubConfig({ data: '/d', source: ' 2, 7 ,12,9,6 ' }).source, '2,7,12,9,6');
  assert.equal(parseHubConfig({ data: '/d', source: ['2', '7'] }).source, '2,7');
  assert.equal(loadHubConfig({ flags: flagsToConfig({ data: '/d', source: '2,7,12,9,6' }) }).source, '2,7,12,9,6');
  assert.deepEqual(sourceIds('2,7, 12,,9'), ['2', '7', '12', '9']);
  assert.deepEqual(sourceIds('site-0'), ['site-0']);
  for (const source of ['', ',', ' , ', '2,7,2', [], ['2', ''], ['2', '2'], ['a,b'], 'x'.repeat(201)]) {
    assert.throws(() => parseHubConfig({ data: '/d', source }), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'), JSON.stringify(source));
  }
});

test('layers: base (STATE_DIRECTORY) < file < env (password) < flags', () => {
  const file = tmpFile(JSON.stringify({ data: '/d', source: '2', password: 'from-file' }));
  const c = loadHubConfig({ file, flags: {}, base: { stateDir: '/var/lib/sitekd-hub' }, env: { password: 'from-env' } });
  assert.equal(c.stateDir, '/var/lib/sitekd-hub');
  assert.equal(c.password, 'from-env');
  const withFile = tmpFile(JSON.stringify({ data: '/d', source: '2', stateDir: '/srv/hub' }));
  assert.equal(loadHubConfig({ file: withFile, flags: {}, base: { stateDir: '/var/lib/x' } }).stateDir, '/srv/hub');
  assert.equal(loadHubConfig({ file, flags: { password: 'flag' }, env: { password: 'from-env' } }).password, 'flag');
});

test('the rollout watch is on by default, with its settings bounded', () => {
  const c = parseHubConfig({ data: '/d', source: '2' });
  assert.deepEqual(
    [c.rollbackOnEvidence, c.rollbackConfidence, c.rollbackMargin, c.rollbackMinWindows, c.rollbackWindowBudget, c.keepModelVersions],
    [true, 0.95, 0.02, undefined, 256, 5],
  );
});

test('deploy/config/hub.example.json is a valid configuration', () => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  const c = loadHubConfig({ file: path.join(dir, 'deploy', 'config', 'hub.example.json'), flags: {} });
  assert.ok(c.sites.length > 0);
});

test('sitekd hub exits 78 on a bad configuration', async () => {
  const err = new PassThrough();
  let text = '';
  err.on('data', (d: Buffer) => (text += d.toString()));
  const code = await hubCommand.run(['--source', '2', '--schedule', 'every day'], { stdout: new PassThrough(), stderr: err, env: {} });
  assert.equal(code, EXIT_CONFIG);
  assert.match(text, /SITEKD_ERR_CONFIG_INVALID/);
  const missing = await hubCommand.run(['--data', '/nonexistent', '--source', '2', '--schedule', 'off'], { stdout: new PassThrough(), stderr: new PassThrough(), env: {} });
  assert.equal(missing, EXIT_CONFIG, 'a data directory that does not exist is a configuration error too');
  const env = await hubCommand.run(['--data', '/d', '--source', '2'], { stdout: new PassThrough(), stderr: err, env: { SITEKD_BACKEND: 'gpu' } });
  assert.equal(env, EXIT_CONFIG, 'SITEKD_BACKEND is a config layer');
  assert.match(text, /backend/);
});

test('layers: SITEKD_BACKEND over the file, --backend over both', () => {
  const file = tmpFile(JSON.stringify({ data: '/d', source: '2', backend: 'cpu' }));
  assert.equal(loadHubConfig({ file, flags: {} }).backend, 'cpu');
  assert.equal(loadHubConfig({ file, flags: {}, env: { backend: 'auto' } }).backend, 'auto');
  assert.equal(loadHubConfig({ file, flags: hubFlags('--backend', 'wasm'), env: { backend: 'auto' } }).backend, 'wasm');
});

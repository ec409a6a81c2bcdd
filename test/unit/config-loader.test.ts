/** The one config loader behind hub/config.ts and agent/config.ts, on real files in a temp dir. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { z } from 'zod';
import { loadConfig, mergeLayers } from '../../shared/config-loader';
import { ErrorCode, isSitekdError } from '../../shared/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, content);
  return f;
}

const Schema = z.strictObject({
  name: z.string(),
  port: z.number().int().max(65_535).default(1883),
  broker: z.strictObject({ url: z.string(), user: z.string().optional() }).optional(),
  tags: z.array(z.string()).default([]),
});

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isSitekdError(err, ErrorCode.CONFIG_INVALID), String(err));
    return ((err.details?.['issues'] ?? []) as Array<{ path: string }>).map((i) => i.path);
  }
  return assert.fail('expected CONFIG_INVALID');
}

test('schema defaults < before < file < after; nested objects merge, arrays are replaced', () => {
  const f = file('a.json', JSON.stringify({ name: 'file', broker: { url: 'mqtt://f', user: 'u' }, tags: ['a', 'b'] }));
  const c = loadConfig({ schema: Schema, what: 'test config', file: f, before: [{ port: 1, name: 'base' }], after: [{ broker: { url: 'mqtt://flag', user: undefined } }, { tags: ['c'] }] });
  assert.deepEqual(c, { name: 'file', port: 1, broker: { url: 'mqtt://flag', user: 'u' }, tags: ['c'] });
  assert.equal(loadConfig({ schema: Schema, what: 'x', after: [{ name: 'n' }] }).port, 1883);
});

test('the result is deeply frozen', () => {
  const c = loadConfig({ schema: Schema, what: 'x', after: [{ name: 'n', broker: { url: 'u' }, tags: ['t'] }] });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.broker) && Object.isFrozen(c.tags));
  assert.throws(() => {
    (c.broker as { url: string }).url = 'changed';
  }, TypeError);
});

test('unreadable, non-JSON, non-object files and invalid values are CONFIG_INVALID with paths', () => {
  assert.deepEqual(issues(() => loadConfig({ schema: Schema, what: 'x', file: path.join(dir, 'missing.json') })), []);
  assert.deepEqual(issues(() => loadConfig({ schema: Schema, what: 'x', file: file('bad.json', '{"name":') })), []);
  assert.deepEqual(issues(() => loadConfig({ schema: Schema, what: 'x', file: file('arr.json', '[1]') })), []);
  assert.deepEqual(issues(() => loadConfig({ schema: Schema, what: 'x', file: file('port.json', '{"name":"n","port":70000}') })), ['port']);
  assert.deepEqual(issues(() => loadConfig({ schema: Schema, what: 'x', after: [{ name: 'n', colour: 'red' }] })), ['(root)']);
  // A "__proto__" key stays a key, which the strict schema refuses, instead of becoming the object's prototype.
  assert.deepEqual(issues(() => loadConfig({ schema: Schema, what: 'x', file: file('proto.json', '{"name":"n","__proto__":{"port":1}}') })), ['(root)']);
  assert.throws(
    () => loadConfig({ schema: Schema, what: 'test config', file: file('p2.json', '{"port":"x"}') }),
    /^SitekdError: invalid test config \(.*p2\.json \+ flags\): name: .*; port: /,
  );
});

test('mergeLayers skips undefined and keeps a layer that names an empty object from adding one', () => {
  assert.deepEqual(mergeLayers({ a: 1 }, { a: undefined, b: { c: undefined } }), { a: 1 });
  assert.deepEqual(mergeLayers({ b: { c: 1 } }, { b: { c: undefined } }), { b: { c: 1 } });
});

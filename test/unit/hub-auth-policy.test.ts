/**
 * The broker policy (hub/auth/policy.ts), password hashing (hub/auth/passwords.ts) and the credentials file's
 * validation (hub/auth/credentials-file.ts), without a broker.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isSitekdError } from '../../shared/errors';
import { addCredential, listCredentials, mosquittoFiles, removeCredential } from '../../hub/auth/credentials';
import { credentialsPath, readCredentials } from '../../hub/auth/credentials-file';
import { hashPassword, mosquittoHash, verifyPassword } from '../../hub/auth/passwords';
import { filterWithin, grantsFor, mayPublish, mayReceive, maySubscribe, mosquittoAcl, type Identity } from '../../hub/auth/policy';

const agent: Identity = { user: 'gw-1', role: 'agent', site: 'site-a', topics: ['plant/a/#'], read: [] };

test('filterWithin: a filter lies inside another only if every topic it matches does', () => {
  const yes: [string, string][] = [
    ['a/b', 'a/b'], ['a/b', 'a/+'], ['a/b', 'a/#'], ['a', 'a/#'], ['a/+/c', 'a/#'], ['a/+', 'a/+'], ['a/#', 'a/#'], ['a/b/#', 'a/#'], ['x/y', '#'],
  ];
  const no: [string, string][] = [
    ['a/#', 'a/b/#'], ['a/+', 'a/b'], ['#', 'a/#'], ['a/b/c', 'a/+'], ['a', 'a/+'], ['a/b', 'a/c'], ['$SYS/x', '#'], ['a/#', 'a/+'], ['+/b', 'a/b'],
  ];
  for (const [inner, outer] of yes) assert.equal(filterWithin(inner, outer), true, `${inner} ⊆ ${outer}`);
  for (const [inner, outer] of no) assert.equal(filterWithin(inner, outer), false, `${inner} ⊄ ${outer}`);
});

test("an agent's grants: its own subtree, its site's model, the hub's status, its sensors and its replies", () => {
  const g = grantsFor(agent);
  assert.equal(mayPublish(g, 'sitekd/v1/site-a/gw-1/samples'), true);
  assert.equal(mayPublish(g, 'sitekd/v1/site-a/gw-2/samples'), false);
  assert.equal(mayPublish(g, 'sitekd/v1/site-b/gw-1/samples'), false);
  assert.equal(mayPublish(g, 'sitekd/v1/site-a/model'), false);
  assert.equal(mayPublish(g, 'sitekd/v1/hub/cmd'), false);
  assert.equal(mayPublish(g, 'plant/a/imu'), false, 'an agent reads its sensors, it does not write them');
  assert.equal(maySubscribe(g, 'sitekd/v1/site-a/model/+/chunk/+'), true);
  assert.equal(maySubscribe(g, 'sitekd/v1/+/model'), false);
  assert.equal(maySubscribe(g, 'sitekd/v1/hub/reply/gw-1'), true);
  assert.equal(maySubscribe(g, 'sitekd/v1/hub/reply/+'), false);
  assert.equal(mayReceive(g, 'sitekd/v1/site-b/model'), false);
});

test('operator, sensor and hub grants', () => {
  const ops = grantsFor({ user: 'ops', role: 'operator', topics: [], read: ['sim/#'] });
  assert.equal(maySubscribe(ops, 'sitekd/v1/#'), true);
  assert.equal(maySubscribe(ops, 'sim/+/score'), true);
  assert.equal(mayPublish(ops, 'sitekd/v1/hub/cmd'), true);
  assert.equal(mayPublish(ops, 'sitekd/v1/site-a/model'), false);
  const sensor = grantsFor({ user: 's', role: 'sensor', topics: ['plant/a/imu'], read: [] });
  assert.equal(mayPublish(sensor, 'plant/a/imu'), true);
  assert.equal(mayPublish(sensor, 'plant/a/imu2'), false);
  assert.equal(maySubscribe(sensor, 'plant/a/imu'), false);
  const hub = grantsFor({ user: 'sitekd-hub', role: 'hub', topics: [], read: [] });
  assert.equal(mayPublish(hub, 'sitekd/v1/site-a/model/v1/chunk/0'), true);
  assert.equal(mayPublish(hub, 'plant/a/imu'), false);
});

test('the Mosquitto ACL lists the same grants per user, with the reply pattern for everyone', () => {
  const acl = mosquittoAcl([agent]);
  assert.match(acl, /^user gw-1$/m);
  assert.match(acl, /^topic readwrite sitekd\/v1\/site-a\/gw-1\/#$/m);
  assert.match(acl, /^topic read sitekd\/v1\/site-a\/model\/#$/m);
  assert.match(acl, /^topic read plant\/a\/#$/m);
  assert.match(acl, /^pattern read sitekd\/v1\/hub\/reply\/%c$/m);
  assert.doesNotMatch(acl, /hub\/reply\/gw-1/);
});

test('scrypt hashes verify only their password; the Mosquitto line is PBKDF2-SHA512 in $7$ format', async () => {
  const h = hashPassword('correct horse');
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('correct horsf', h), false);
  const salt = Buffer.from('0123456789ab');
  const line = mosquittoHash('pw', 101, salt);
  const expected = pbkdf2Sync('pw', salt, 101, 64, 'sha512').toString('base64');
  assert.equal(line, `$7$101$${salt.toString('base64')}$${expected}`);
});

test('credentials add/remove keep the file valid, private and free of duplicates; bad requests are CREDENTIALS_INVALID', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-creds-'));
  try {
    const r = await addCredential(dir, { user: 'gw-1', role: 'agent', site: 'site-a' }, 1);
    assert.equal(r.generated, true);
    assert.ok(r.password.length >= 24);
    assert.equal((fs.statSync(credentialsPath(dir)).mode & 0o777).toString(8), '600');
    await assert.rejects(addCredential(dir, { user: 'gw-1', role: 'agent', site: 'site-a' }, 2), (e) => isSitekdError(e, 'SITEKD_ERR_CREDENTIALS_INVALID'));
    await addCredential(dir, { user: 'gw-1', role: 'agent', site: 'site-b', replace: true }, 3);
    assert.equal(listCredentials(dir)[0]?.site, 'site-b');
    const bad = [
      { user: 'x', role: 'agent' as const },
      { user: 'model', role: 'agent' as const, site: 's' },
      { user: 's', role: 'sensor' as const },
      { user: 's', role: 'sensor' as const, topics: ['sitekd/v1/site-a/gw-1/samples'] },
      { user: 's', role: 'sensor' as const, topics: ['#'] },
      { user: 'o', role: 'operator' as const, site: 'site-a' },
      { user: 'bad/name', role: 'operator' as const },
      { user: 'o', role: 'operator' as const, read: ['a/#/b'] },
      { user: 'o', role: 'operator' as const, password: 'short' },
    ];
    for (const req of bad) await assert.rejects(addCredential(dir, req, 4), (e) => isSitekdError(e, 'SITEKD_ERR_CREDENTIALS_INVALID'), JSON.stringify(req));
    assert.equal(await removeCredential(dir, 'gw-1'), true);
    assert.equal(await removeCredential(dir, 'gw-1'), false);
    assert.deepEqual(mosquittoFiles(dir).passwd, '');
    fs.writeFileSync(credentialsPath(dir), '{"version":1,"users":[{"user":"a"}]}');
    assert.throws(() => readCredentials(credentialsPath(dir)), (e) => isSitekdError(e, 'SITEKD_ERR_CREDENTIALS_INVALID'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

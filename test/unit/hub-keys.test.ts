import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isSitekdError } from '../../shared/errors';
import { keyIdOf } from '../../shared/protocol/signing';
import { loadOrCreateKey } from '../../hub/models/keys';

test('the signing key is created once (private 0600, directory 0700) and loaded afterwards', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-hubkey-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = await loadOrCreateKey(dir);
  assert.equal(first.created, true);
  assert.equal(fs.statSync(path.join(dir, 'keys', 'hub-ed25519.key.pem')).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(dir, 'keys')).mode & 0o777, 0o700);
  const pub = fs.readFileSync(first.publicKeyFile, 'utf8');
  assert.equal(keyIdOf(pub), first.keyId);
  fs.rmSync(first.publicKeyFile);
  const second = await loadOrCreateKey(dir);
  assert.equal(second.created, false);
  assert.equal(second.keyId, first.keyId);
  assert.equal(fs.readFileSync(second.publicKeyFile, 'utf8'), pub, 'a missing public key file is rewritten from the private key');
});

test('a private key file that is not Ed25519 is CONFIG_INVALID', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-hubkey-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'keys'));
  fs.writeFileSync(path.join(dir, 'keys', 'hub-ed25519.key.pem'), 'not a key');
  await assert.rejects(loadOrCreateKey(dir), (e) => isSitekdError(e, 'SITEKD_ERR_CONFIG_INVALID'));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidId } from '../../shared/protocol/topics';
import { isNewer, nextVersion, versionNumber } from '../../hub/models/versioning';

const SHA = 'a1b2c3d4'.repeat(8);

test('versions count up per site from 1 and carry the first 8 hex digits of the content hash', () => {
  assert.equal(nextVersion(undefined, SHA), '1-a1b2c3d4');
  assert.equal(nextVersion('1-a1b2c3d4', 'ffffffff'.repeat(8)), '2-ffffffff');
  assert.equal(nextVersion('41-00000000', SHA), '42-a1b2c3d4');
  assert.ok(isValidId(nextVersion('999999-00000000', SHA)), 'a version is a valid topic level');
});

test('a foreign or missing version counts as 0', () => {
  for (const v of [undefined, 's-1-0001', '0-a1b2c3d4', '01-a1b2c3d4', '3-A1B2C3D4', '3-a1b2c3d', '']) assert.equal(versionNumber(v), 0, String(v));
  assert.equal(versionNumber('12-0123abcd'), 12);
});

test('isNewer never accepts a downgrade or the same number', () => {
  assert.equal(isNewer('2-aaaaaaaa', '1-bbbbbbbb'), true);
  assert.equal(isNewer('2-aaaaaaaa', '2-bbbbbbbb'), false);
  assert.equal(isNewer('1-aaaaaaaa', '10-bbbbbbbb'), false);
  assert.equal(isNewer('1-aaaaaaaa', undefined), true);
});

test('nextVersion refuses a non-hex hash', () => {
  assert.throws(() => nextVersion(undefined, 'not-a-hash'), TypeError);
});

test('after a rollback the next version counts on from the highest number ever published, not from the current one', () => {
  assert.equal(nextVersion('2-aaaaaaaa', SHA, 3), '4-a1b2c3d4', 'rolled back from 3 to 2: the next round is 4, never 3 again');
  assert.equal(nextVersion('5-aaaaaaaa', SHA, 3), '6-a1b2c3d4', 'a stale highest never lowers the count');
  assert.equal(nextVersion(undefined, SHA, 0), '1-a1b2c3d4');
});

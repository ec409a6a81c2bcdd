/**
 * Which version a rollback goes back to (hub/models/rollback-target.ts) and the model history rules behind it
 * (hub/sites/model-history.ts): the version served before, never one rolled back from; `--to` checked against what
 * the site served; coded errors for an unknown version, the current one, or nothing to go back to.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { chooseRollbackTarget, type RollbackTargetInput } from '../../hub/models/rollback-target';
import { appendRecord, markRollout, MAX_MODEL_RECORDS, recentVersions, servedBefore, type ModelRecord } from '../../hub/sites/model-history';

const pub = (version: string, at = 1): ModelRecord => ({ version, at, kind: 'published' });
const rb = (version: string, from: string): ModelRecord => ({ version, at: 1, kind: 'rollback', from, trigger: 'command' });
const HISTORY = [pub('1-aaaaaaaa'), pub('2-bbbbbbbb'), pub('3-cccccccc')];
const input = (over: Partial<RollbackTargetInput> = {}): RollbackTargetInput => ({
  site: 's1', current: '3-cccccccc', requested: undefined, history: HISTORY, kept: ['2-bbbbbbbb', '3-cccccccc'], ...over,
});
const code = (c: string) => (e: unknown) => isSitekdError(e) && e.code === c;

test('without --to: the version served before the current one', () => {
  assert.equal(chooseRollbackTarget(input()), '2-bbbbbbbb');
});

test('after a rollback, the default target skips the version rolled back from', () => {
  const history = [...HISTORY, rb('2-bbbbbbbb', '3-cccccccc')];
  assert.equal(servedBefore(history, '2-bbbbbbbb'), '1-aaaaaaaa');
  assert.equal(chooseRollbackTarget(input({ current: '2-bbbbbbbb', history })), '1-aaaaaaaa');
  assert.equal(chooseRollbackTarget(input({ current: '2-bbbbbbbb', history, requested: '3-cccccccc' })), '3-cccccccc', 'but --to may name it');
});

test('--to must be a version the site served, and not its current one', () => {
  assert.equal(chooseRollbackTarget(input({ requested: '1-aaaaaaaa' })), '1-aaaaaaaa', 'in the history, even if its files are gone (the publisher then says MODEL_MISSING)');
  assert.throws(() => chooseRollbackTarget(input({ requested: '9-99999999' })), code(ErrorCode.MODEL_VERSION_UNKNOWN));
  assert.throws(() => chooseRollbackTarget(input({ requested: '3-cccccccc' })), code(ErrorCode.ROLLBACK_TO_CURRENT));
});

test('a site that only ever served one version has nothing to go back to', () => {
  assert.throws(() => chooseRollbackTarget(input({ current: '1-aaaaaaaa', history: [pub('1-aaaaaaaa')], kept: ['1-aaaaaaaa'] })), code(ErrorCode.MODEL_VERSION_UNKNOWN));
});

test('a registry from before histories falls back to the newest kept version below the current one', () => {
  assert.equal(chooseRollbackTarget(input({ history: [], kept: ['1-aaaaaaaa', '2-bbbbbbbb', '3-cccccccc'] })), '2-bbbbbbbb');
  assert.equal(chooseRollbackTarget(input({ history: [], requested: '1-aaaaaaaa', kept: ['1-aaaaaaaa', '3-cccccccc'] })), '1-aaaaaaaa');
  assert.throws(() => chooseRollbackTarget(input({ history: [], kept: ['3-cccccccc'] })), code(ErrorCode.MODEL_VERSION_UNKNOWN));
});

test('the history is bounded, newest kept; a rollout outcome marks the last publication of its version', () => {
  let h: ModelRecord[] = [];
  for (let i = 0; i < MAX_MODEL_RECORDS + 5; i++) h = appendRecord(h, pub(`${i + 1}-aaaaaaaa`, i));
  assert.equal(h.length, MAX_MODEL_RECORDS);
  assert.equal(h[0]?.version, '6-aaaaaaaa');
  const marked = markRollout([pub('2-bbbbbbbb'), rb('1-aaaaaaaa', '2-bbbbbbbb'), pub('2-bbbbbbbb')], '2-bbbbbbbb', 'confirmed');
  assert.deepEqual(marked.map((r) => r.rollout), [undefined, undefined, 'confirmed']);
  assert.deepEqual(recentVersions([...HISTORY, rb('2-bbbbbbbb', '3-cccccccc')], 2), ['2-bbbbbbbb', '3-cccccccc']);
});

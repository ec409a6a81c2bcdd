/** The pino-backed logger: one JSON object per line off a terminal, `time level msg k=v` on one, level filtering. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../shared/log';
import { SitekdError } from '../../shared/errors';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 6);

function capture(isTTY?: boolean): { lines: string[]; stream: { write(s: string): boolean; isTTY?: boolean } } {
  const lines: string[] = [];
  const stream = {
    write(s: string): boolean {
      lines.push(...s.split('\n').filter((l) => l !== ''));
      return true;
    },
    ...(isTTY === undefined ? {} : { isTTY }),
  };
  return { lines, stream };
}

test('JSON lines off a terminal: time from the injected clock, level label, message, bound and call fields', () => {
  const { lines, stream } = capture();
  const log = createLogger({ stream, level: 'info', now: () => T0 }, { site: 'plant-a' });
  log.info('model swapped', { version: '3-abc', windows: 12 });
  log.child({ agent: 'gw-1' }).warn('slow', { ms: 7 });
  assert.equal(lines.length, 2);
  assert.deepEqual(JSON.parse(lines[0] as string), {
    level: 'info', time: '2026-01-02T03:04:05.006Z', site: 'plant-a', version: '3-abc', windows: 12, msg: 'model swapped',
  });
  assert.deepEqual(JSON.parse(lines[1] as string), { level: 'warn', time: '2026-01-02T03:04:05.006Z', site: 'plant-a', agent: 'gw-1', ms: 7, msg: 'slow' });
});

test('messages below the level are dropped', () => {
  const { lines, stream } = capture();
  const log = createLogger({ stream, level: 'warn' });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['w', 'e']);
  const debug = capture();
  createLogger({ stream: debug.stream, level: 'debug' }).child({ x: 1 }).debug('d');
  assert.equal(debug.lines.length, 1);
});

test('errors become name, message and code; bytes their length; bigints numbers', () => {
  const { lines, stream } = capture();
  const err = new SitekdError('SITEKD_ERR_MODEL_CHECKSUM', 'sha256 mismatch');
  createLogger({ stream, now: () => T0 }).error('update failed', { err, nested: { cause: new TypeError('t') }, bytes: new Uint8Array(300), f: new Float32Array(4), n: 5n });
  const o = JSON.parse(lines[0] as string) as Record<string, unknown>;
  assert.deepEqual(o['err'], { name: 'SitekdError', message: 'sha256 mismatch', code: 'SITEKD_ERR_MODEL_CHECKSUM' });
  assert.deepEqual(o['nested'], { cause: { name: 'TypeError', message: 't' } });
  assert.equal(o['bytes'], '<300 bytes>');
  assert.equal(o['f'], '<16 bytes>');
  assert.equal(o['n'], 5);
});

test('text on a terminal, unless JSON is asked for', () => {
  const tty = capture(true);
  createLogger({ stream: tty.stream, now: () => T0 }, { site: 'a' }).info('hub started', { port: 1883, url: 'mqtt://x y', empty: '' });
  assert.deepEqual(tty.lines, ['2026-01-02T03:04:05.006Z info  hub started site=a port=1883 url="mqtt://x y" empty=""']);
  const forced = capture(true);
  createLogger({ stream: forced.stream, json: true }).info('x');
  assert.equal((JSON.parse(forced.lines[0] as string) as { msg: string }).msg, 'x');
  const text = capture(false);
  createLogger({ stream: text.stream, json: false, now: () => T0 }).warn('w');
  assert.deepEqual(text.lines, ['2026-01-02T03:04:05.006Z warn  w']);
});

test('a stream that throws does not take the caller down', () => {
  const broken = { write(): boolean { throw new Error('EPIPE'); } };
  assert.doesNotThrow(() => createLogger({ stream: broken }).error('x'));
  assert.doesNotThrow(() => createLogger({ stream: { ...broken, isTTY: true } }).error('x'));
});

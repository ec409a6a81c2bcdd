import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import { SensorParser, type ParseResult, type Reading, type SensorParserOptions } from '../../agent/sensor-parser';
import { ErrorCode, isSitekdError } from '../../shared/errors';

const ACC = 'factory/imu1/acc';
const GYRO = 'factory/imu1/gyro';

function makeParser(overrides: Partial<SensorParserOptions> = {}): SensorParser {
  return new SensorParser({
    channels: ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z'],
    sources: [
      { topic: ACC, channels: ['acc_x', 'acc_y', 'acc_z'] },
      { topic: GYRO, channels: [3, 4, 5] },
    ],
    ...overrides,
  });
}

const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');

function okReadings(r: ParseResult): Reading[] {
  if (!r.ok) assert.fail(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.readings;
}

function rejected(r: ParseResult, reason?: string): void {
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, ErrorCode.READING_INVALID);
  if (reason !== undefined) assert.equal(r.error.details?.['reason'], reason);
}

const plain = (rs: Reading[]): Array<{ ts: number; values: number[] }> => rs.map((r) => ({ ts: r.ts, values: [...r.values] }));

test('maps channel names and indices to model channels per source', () => {
  const p = makeParser();
  assert.deepEqual(p.sourceChannels, [[0, 1, 2], [3, 4, 5]]);
  assert.equal(p.sourceIndex(GYRO), 1);
  assert.equal(p.sourceIndex('other'), -1);
});

test('parses a JSON reading with epoch-ms ts', () => {
  const r = makeParser().parse(ACC, text('{"ts": 1700000000000, "values": [0.1, -0.2, 9.81]}'));
  assert.equal(r.ok && r.source, 0);
  assert.deepEqual(plain(okReadings(r)), [{ ts: 1700000000000, values: [0.1, -0.2, 9.81] }]);
});

test('accepts an ISO 8601 ts and the channels object form (extra names ignored)', () => {
  const msg = '{"ts":"2023-11-14T22:13:20.500Z","channels":{"gyro_z":3,"gyro_x":1,"gyro_y":2,"temp":40}}';
  const rs = okReadings(makeParser().parse(GYRO, text(msg)));
  assert.deepEqual(plain(rs), [{ ts: 1700000000500, values: [1, 2, 3] }]);
});

test('accepts a JSON array of readings', () => {
  const msg = JSON.stringify([{ ts: 1, values: [1, 2, 3] }, { ts: 21, values: [4, 5, 6] }]);
  assert.deepEqual(plain(okReadings(makeParser().parse(ACC, text(msg)))).map((r) => r.ts), [1, 21]);
});

test('parses msgpack with number arrays, float32 bin values and a msgpack timestamp', () => {
  const p = makeParser();
  assert.deepEqual(plain(okReadings(p.parse(ACC, pack({ ts: 1700000000000, values: [1, 2, 3] })))), [
    { ts: 1700000000000, values: [1, 2, 3] },
  ]);
  // msgpackr packs a Float32Array as bin by default; the parser reads it as little-endian float32.
  const viaBin = okReadings(p.parse(ACC, pack({ ts: new Date(1700000000000), values: new Float32Array([0.5, -1.5, 2]) })));
  assert.deepEqual(plain(viaBin), [{ ts: 1700000000000, values: [0.5, -1.5, 2] }]);
  assert.equal(okReadings(p.parse(ACC, pack([{ ts: 5, values: [1, 2, 3] }])))[0]?.ts, 5);
});

test('parses several CSV lines per message, header-less, with CRLF and blank lines', () => {
  const rs = okReadings(makeParser().parse(ACC, text('1000,1,2,3\r\n1020,4,5,6\n\n2023-11-14T22:13:20Z,7,8,9\n')));
  assert.deepEqual(plain(rs), [
    { ts: 1000, values: [1, 2, 3] },
    { ts: 1020, values: [4, 5, 6] },
    { ts: 1700000000000, values: [7, 8, 9] },
  ]);
});

test('a CSV header maps columns by name, in any order', () => {
  const rs = okReadings(makeParser().parse(ACC, text('ts,acc_z,temp,acc_x,acc_y\n1000,3,40,1,2')));
  assert.deepEqual(plain(rs), [{ ts: 1000, values: [1, 2, 3] }]);
  rejected(makeParser().parse(ACC, text('ts,acc_x,acc_y\n1000,1,2')), 'shape');
});

test('null entries in a mapping skip values the model does not use', () => {
  const p = makeParser({ channels: ['a', 'b'], sources: [{ topic: 't', channels: ['b', null, 'a'] }] });
  assert.deepEqual(p.sourceChannels, [[1, 0]]);
  assert.deepEqual(plain(okReadings(p.parse('t', text('{"ts":1,"values":[2, 99, 1]}')))), [{ ts: 1, values: [2, 1] }]);
  assert.deepEqual(plain(okReadings(p.parse('t', text('1,2,nan,1')))), [{ ts: 1, values: [2, 1] }]);
});

test('a forced format is used even when auto-detection would pick another', () => {
  const p = makeParser({ channels: ['a'], sources: [{ topic: 't', channels: ['a'], format: 'json' }] });
  rejected(p.parse('t', text('1,2')), 'decode');
  assert.equal(okReadings(p.parse('t', text('{"ts":1,"values":[2]}'))).length, 1);
});

test('rejects the wrong number of values', () => {
  const p = makeParser();
  rejected(p.parse(ACC, text('{"ts":1,"values":[1,2]}')), 'shape');
  rejected(p.parse(ACC, pack({ ts: 1, values: [1, 2, 3, 4] })), 'shape');
  rejected(p.parse(ACC, text('1,1,2')), 'shape');
  rejected(p.parse(ACC, pack({ ts: 1, values: new Float32Array([1, 2]) })), 'shape');
});

test('rejects NaN, Infinity and null values', () => {
  const p = makeParser();
  rejected(p.parse(ACC, text('{"ts":1,"values":[1,null,3]}')), 'nonfinite');
  rejected(p.parse(ACC, pack({ ts: 1, values: [1, Number.NaN, 3] })), 'nonfinite');
  rejected(p.parse(ACC, pack({ ts: 1, values: [1, Infinity, 3] })), 'nonfinite');
  rejected(p.parse(ACC, text('1,1,Infinity,3')), 'nonfinite');
  rejected(p.parse(ACC, text('1,1,NaN,3')), 'nonfinite');
  rejected(p.parse(ACC, text('1,1,,3')), 'shape');
  rejected(p.parse(GYRO, text('{"ts":1,"channels":{"gyro_x":1,"gyro_y":null,"gyro_z":3}}')), 'nonfinite');
});

test('rejects a missing, malformed or out-of-range ts', () => {
  const p = makeParser();
  rejected(p.parse(ACC, text('{"values":[1,2,3]}')), 'ts');
  rejected(p.parse(ACC, text('{"ts":"yesterday","values":[1,2,3]}')), 'ts');
  rejected(p.parse(ACC, text('{"ts":-5,"values":[1,2,3]}')), 'ts');
  rejected(p.parse(ACC, text('{"ts":1e300,"values":[1,2,3]}')), 'ts');
  rejected(p.parse(ACC, text('2023-13-45T99:99,1,2,3')), 'ts');
});

test('rejects garbage, wrong shapes and unknown topics with READING_INVALID', () => {
  const p = makeParser();
  rejected(p.parse(ACC, text('{"ts":1,"values":[1,2,3]')), 'decode');
  rejected(p.parse(ACC, Uint8Array.from([0x93, 0xff, 0x00])), 'decode');
  rejected(p.parse(ACC, Uint8Array.from([0xff, 0xfe, 0x00, 0x80])), 'decode');
  rejected(p.parse(ACC, new Uint8Array(0)), 'decode');
  rejected(p.parse(ACC, text('hello world')), 'shape');
  rejected(p.parse(ACC, text('[]')), 'shape');
  rejected(p.parse(ACC, text('42')), undefined);
  rejected(p.parse(ACC, text('{"ts":1,"values":[1,2,3],"channels":{}}')), 'shape');
  rejected(p.parse(ACC, text('{"ts":1,"values":"1,2,3"}')), 'shape');
  rejected(p.parse(GYRO, text('{"ts":1,"channels":{"gyro_x":1}}')), 'shape');
  rejected(p.parse('factory/other', text('{"ts":1,"values":[1,2,3]}')), 'topic');
});

test('one bad CSV line drops the whole message and names the line', () => {
  const r = makeParser().parse(ACC, text('1000,1,2,3\n1020,4,x,6\n1040,7,8,9'));
  rejected(r, 'shape');
  assert.equal(!r.ok && r.error.details?.['line'], 2);
});

test('random bytes never throw and always yield a coded result', () => {
  const p = makeParser();
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  for (let i = 0; i < 500; i++) {
    const bytes = Uint8Array.from({ length: 1 + (i % 40) }, rand);
    const r = p.parse(ACC, bytes);
    if (!r.ok) assert.ok(isSitekdError(r.error, ErrorCode.READING_INVALID), r.error.message);
  }
});

test('rejects oversize payloads with READING_TOO_LARGE and too many readings with reason count', () => {
  const p = makeParser({ maxPayloadBytes: 64, maxReadingsPerMessage: 2 });
  const big = p.parse(ACC, new Uint8Array(65));
  assert.equal(!big.ok && big.error.code, ErrorCode.READING_TOO_LARGE);
  const q = makeParser({ maxReadingsPerMessage: 2 });
  rejected(q.parse(ACC, text('1,1,2,3\n2,1,2,3\n3,1,2,3')), 'count');
  rejected(q.parse(ACC, text(JSON.stringify([1, 2, 3].map((ts) => ({ ts, values: [1, 2, 3] }))))), 'count');
  assert.equal(okReadings(q.parse(ACC, text('1,1,2,3\n2,1,2,3'))).length, 2);
});

test('misconfiguration throws CONFIG_INVALID at construction', () => {
  const bad: Array<Partial<SensorParserOptions>> = [
    { sources: [{ topic: ACC, channels: ['acc_x', 'acc_y', 'acc_q'] }, { topic: GYRO, channels: [3, 4, 5] }] },
    { sources: [{ topic: ACC, channels: ['acc_x', 'acc_y', 'acc_z'] }, { topic: GYRO, channels: [3, 4, 6] }] },
    { sources: [{ topic: ACC, channels: ['acc_x', 'acc_y', 'acc_z', 3] }, { topic: GYRO, channels: [3, 4, 5] }] },
    { sources: [{ topic: ACC, channels: ['acc_x', 'acc_y', 'acc_z'] }] },
    { sources: [{ topic: 'factory/+/acc', channels: [0, 1, 2] }, { topic: GYRO, channels: [3, 4, 5] }] },
    { channels: ['a', 'a'], sources: [{ topic: 't', channels: [0] }] },
    { maxPayloadBytes: 0 },
  ];
  for (const o of bad) assert.throws(() => makeParser(o), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('refuses values beyond the float32 range with READING_OUT_OF_RANGE, in every format', () => {
  const p = makeParser();
  const cases: Uint8Array[] = [
    text('{"ts": 1, "values": [1e39, 0, 0]}'),
    text('{"ts": 1, "channels": {"acc_x": 0, "acc_y": -1e39, "acc_z": 0}}'),
    text('1,0,0,1e39'),
    pack({ ts: 1, values: [0, 3.5e38, 0] }),
  ];
  for (const payload of cases) {
    const r = p.parse(ACC, payload);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, ErrorCode.READING_OUT_OF_RANGE);
      assert.equal(r.error.details?.['reason'], 'range');
    }
  }
  // The largest float32 itself still fits (the hub's plausibility check judges such values, not the wire).
  assert.deepEqual(plain(okReadings(p.parse(ACC, text('{"ts": 1, "values": [3.4028234e38, 0, 0]}')))), [{ ts: 1, values: [3.4028234e38, 0, 0] }]);
});

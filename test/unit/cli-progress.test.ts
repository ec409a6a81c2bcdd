import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressReporter, type ProgressStream } from '../../shared/cli/progress';

class FakeStream implements ProgressStream {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function setup(isTTY: boolean, columns?: number): { stream: FakeStream; clock: { now: number }; p: ProgressReporter } {
  const stream = new FakeStream(isTTY, columns);
  const clock = { now: 0 };
  const p = new ProgressReporter(10, { stream, clock: () => clock.now, barWidth: 10 });
  return { stream, clock, p };
}

test('draws the bar in place with \\r on a TTY', () => {
  const { stream, clock, p } = setup(true, 120);
  clock.now = 1200;
  p.tick({ epoch: 3, step: 42, steps: 100, loss: 0.512 });
  assert.deepEqual(stream.chunks, ['\repoch 3/10 [====>     ] 42% loss 0.512 · 1.2 s']);
});

test('throttles redraws to one per 100 ms', () => {
  const { stream, clock, p } = setup(true, 120);
  for (let i = 0; i < 50; i++) {
    clock.now = i * 10;
    p.tick({ epoch: 1, step: i, steps: 50 });
  }
  assert.equal(stream.chunks.length, 5); // t = 0, 100, 200, 300, 400
  assert.ok(stream.chunks.every((c) => c.startsWith('\r') && !c.includes('\n')));
});

test('epochEnd leaves a full bar with metrics, and the next epoch draws at once', () => {
  const { stream, clock, p } = setup(true, 120);
  p.tick({ epoch: 1, step: 1, steps: 4, loss: 2 });
  clock.now = 50;
  p.epochEnd({ epoch: 1, loss: 0.5, metrics: { valMacroF1: 0.81 } });
  assert.equal(stream.chunks.at(-2)?.trimEnd(), '\repoch 1/10 [==========] 100% loss 0.500 valMacroF1 0.810 · 0.1 s');
  assert.equal(stream.chunks.at(-1), '\n');
  clock.now = 60; // within the throttle window, but a new line
  p.tick({ epoch: 2, step: 0, steps: 4 });
  assert.match(stream.chunks.at(-1) ?? '', /^\repoch 2\/10 \[>         \] 0% · 0\.1 s$/);
});

test('pads over a longer previous line', () => {
  const { stream, clock, p } = setup(true, 120);
  p.tick({ epoch: 1, step: 1, steps: 2, loss: 123.456 });
  clock.now = 200;
  p.tick({ epoch: 1, step: 2, steps: 2 });
  const [first, second] = stream.chunks;
  assert.ok(first !== undefined && second !== undefined);
  assert.equal(second.length, first.length);
  assert.match(second, / +$/);
});

test('never writes past the terminal width; drops the bar when it would be too narrow', () => {
  for (const columns of [80, 45, 30, 12]) {
    const { stream, clock, p } = setup(true, columns);
    clock.now = 3_725_000;
    p.tick({ epoch: 10, step: 5, steps: 7, loss: 0.123456 });
    p.epochEnd({ epoch: 10, loss: 0.1, metrics: { accuracy: 0.9, macroF1: 0.85 } });
    for (const line of stream.text.split(/[\r\n]/)) assert.ok(line.length <= columns - 1, `${columns}: "${line}"`);
  }
  const { stream, p } = setup(true, 30);
  p.tick({ epoch: 1, step: 1, steps: 2, loss: 0.5 });
  assert.doesNotMatch(stream.text, /\[/);
});

test('off a TTY: no bar, no \\r, one plain line per epoch', () => {
  const { stream, clock, p } = setup(false);
  for (let i = 0; i < 20; i++) p.tick({ epoch: 1, step: i, steps: 20, loss: 1 });
  assert.equal(stream.chunks.length, 0);
  clock.now = 1000;
  p.epochEnd({ epoch: 1, loss: 0.5, metrics: { valMacroF1: 0.81 } });
  clock.now = 125_000;
  p.epochEnd({ epoch: 2, loss: Number.NaN });
  p.finish();
  assert.equal(stream.text, 'epoch 1/10 loss 0.500 valMacroF1 0.810 · 1.0 s\nepoch 2/10 loss NaN · 2m05s\n');
});

test('finish ends a half-drawn line once, and only then', () => {
  const { stream, p } = setup(true, 120);
  p.finish();
  assert.equal(stream.chunks.length, 0);
  p.tick({ epoch: 1, step: 1, steps: 3 });
  p.finish();
  p.finish();
  assert.equal(stream.chunks.filter((c) => c === '\n').length, 1);
});

test('formats tiny and huge losses compactly', () => {
  const { stream, clock, p } = setup(false);
  clock.now = 0;
  p.epochEnd({ epoch: 1, loss: 1.5e-7 });
  p.epochEnd({ epoch: 2, loss: 2.5e9 });
  p.epochEnd({ epoch: 3, loss: 0 });
  assert.match(stream.text, /loss 1\.50e-7/);
  assert.match(stream.text, /loss 2\.50e\+9/);
  assert.match(stream.text, /loss 0\.000/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../../shared/errors';
import {
  formatUsage,
  intArg,
  numberArg,
  parseCommandArgs,
  splitSubcommand,
  wantsHelp,
  type OptionTable,
} from '../../shared/cli/args';

const distillTable = {
  data: { type: 'string', description: 'dataset directory', placeholder: 'dir' },
  source: { type: 'string', description: 'source domain id' },
  target: { type: 'string', description: 'target domain id' },
  epochs: { type: 'string', default: '10', description: 'training epochs' },
  lr: { type: 'string', default: '0.001', description: 'learning rate' },
  seed: { type: 'string', short: 's', default: '0', description: 'random seed' },
  backend: { type: 'string', default: 'cpu', description: 'tfjs backend' },
  json: { type: 'boolean', default: false, description: 'print JSON' },
} as const satisfies OptionTable;

const DistillArgsSchema = z.strictObject({
  data: z.string().min(1),
  source: z.string(),
  target: z.string(),
  epochs: intArg({ min: 1, max: 1000 }),
  lr: numberArg({ min: 0 }),
  seed: z.coerce.number().int(),
  backend: z.enum(['cpu', 'wasm', 'tensorflow']),
  json: z.boolean(),
});

function usageError(argv: string[]): SitekdError {
  try {
    parseCommandArgs('distill', argv, distillTable, DistillArgsSchema);
  } catch (err) {
    assert.ok(err instanceof SitekdError);
    assert.equal(err.code, ErrorCode.CLI_USAGE);
    return err;
  }
  return assert.fail('expected CLI_USAGE');
}

test('parses, coerces and applies defaults', () => {
  const args = parseCommandArgs(
    'distill',
    ['--data', 'DIR', '--source', '2', '--target', '11', '--epochs', '10', '-s', '3', '--json'],
    distillTable,
    DistillArgsSchema,
  );
  assert.deepEqual(args, {
    data: 'DIR', source: '2', target: '11', epochs: 10, lr: 0.001, seed: 3, backend: 'cpu', json: true,
  });
  const epochs: number = args.epochs; // typed, not string
  assert.equal(epochs, 10);
  const withEq = parseCommandArgs('distill', ['--data=D', '--source=1', '--target=2', '--lr=1e-3', '--backend=wasm'], distillTable, DistillArgsSchema);
  assert.equal(withEq.lr, 0.001);
  assert.equal(withEq.backend, 'wasm');
  assert.equal(withEq.json, false);
});

test('an unknown flag is CLI_USAGE with a suggestion and a help hint', () => {
  const err = usageError(['--dta', 'DIR', '--source', '2', '--target', '11']);
  assert.match(err.message, /--dta/);
  assert.match(err.message, /did you mean --data\?/);
  assert.match(err.message, /sitekd distill --help/);
  assert.doesNotMatch(usageError(['-x']).message, /did you mean/);
});

test('a missing required option is named', () => {
  const err = usageError(['--source', '2', '--target', '11']);
  assert.match(err.message, /missing required option --data/);
});

test('invalid values are CLI_USAGE naming the option and the value', () => {
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--epochs', 'ten']).message, /--epochs \("ten"\)/);
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--epochs', '']).message, /--epochs/);
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--epochs', '0']).message, /--epochs/);
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--epochs', '2.5']).message, /--epochs/);
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--lr', 'abc']).message, /--lr/);
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--backend', 'gpu']).message, /--backend/);
  assert.match(usageError(['--data', 'D', '--source', '1', '--target', '2', '--seed', 'x']).message, /--seed/);
});

test('parseArgs-level mistakes are rephrased', () => {
  assert.match(usageError(['--data']).message, /option --data needs a value/);
  assert.match(usageError(['-s']).message, /option --seed needs a value/);
  assert.match(usageError(['--data', '--json']).message, /option --data needs a value/);
  assert.match(usageError(['--json=yes']).message, /--json is a flag/);
  assert.match(usageError(['stray']).message, /unexpected argument 'stray'/);
});

test('splitSubcommand and wantsHelp', () => {
  assert.deepEqual(splitSubcommand(['distill', '--seed', '0']), { command: 'distill', rest: ['--seed', '0'] });
  assert.deepEqual(splitSubcommand(['--help']), { command: undefined, rest: ['--help'] });
  assert.deepEqual(splitSubcommand([]), { command: undefined, rest: [] });
  assert.equal(wantsHelp(['--data', 'x', '-h']), true);
  assert.equal(wantsHelp(['--help']), true);
  assert.equal(wantsHelp(['--data', 'x']), false);
  assert.equal(wantsHelp(['--', '--help']), false);
});

test('formatUsage lists every option with placeholders, defaults and required marks', () => {
  const text = formatUsage('distill', distillTable, { summary: 'Distil a student.', schema: DistillArgsSchema });
  assert.match(text, /^Usage: sitekd distill \[options\]\n/);
  assert.match(text, /Distil a student\./);
  assert.match(text, /--data <dir> +dataset directory \(required\)/);
  assert.match(text, /--epochs <value> +training epochs \(default: 10\)/);
  assert.match(text, /-s, --seed <value>/);
  assert.match(text, /--json +print JSON\n/);
  assert.match(text, /-h, --help +show this help/);
  for (const name of Object.keys(distillTable)) assert.match(text, new RegExp(`--${name}\\b`));
  // Without a schema nothing is marked required.
  assert.doesNotMatch(formatUsage('distill', distillTable), /required/);
});

test('a schema whose input does not fit the table fails to compile', () => {
  const table = { json: { type: 'boolean', description: 'x' } } as const satisfies OptionTable;
  // @ts-expect-error json is a boolean flag, the schema expects a string
  assert.throws(() => parseCommandArgs('x', [], table, z.object({ json: z.string() })), SitekdError);
  // @ts-expect-error the schema has a key with no option
  assert.throws(() => parseCommandArgs('x', [], table, z.object({ json: z.boolean(), other: z.string() })), SitekdError);
  const strTable = { n: { type: 'string', description: 'x' } } as const satisfies OptionTable;
  // @ts-expect-error z.number() never accepts the raw string; use intArg/numberArg/z.coerce
  assert.throws(() => parseCommandArgs('x', ['--n', '1'], strTable, z.object({ n: z.number() })), SitekdError);
  assert.deepEqual(parseCommandArgs('x', ['--n', '1'], strTable, z.object({ n: z.coerce.number().optional() })), { n: 1 });
});

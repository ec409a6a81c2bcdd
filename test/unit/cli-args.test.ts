import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { parseCommandArgs, splitSubcommand, wantsHelp } from '../../shared/cli/args';
import { opt, optionsSchema, parseArgsTable } from '../../shared/cli/options';
import { formatUsage } from '../../shared/cli/usage';

const options = {
  data: opt.string({ description: 'dataset directory', placeholder: 'dir', required: true }),
  source: opt.string({ description: 'source domain id', required: true }),
  target: opt.string({ description: 'target domain id', required: true }),
  epochs: opt.int({ description: 'training epochs', min: 1, max: 1000, default: 10 }),
  lr: opt.number({ description: 'learning rate', min: 0, default: 0.001 }),
  seed: opt.int({ description: 'random seed', short: 's', min: 0, default: 0 }),
  backend: opt.choice(['cpu', 'wasm', 'tensorflow'], { description: 'tfjs backend', placeholder: 'name', default: 'cpu' }),
  teacher: opt.string({ description: 'teacher artifact', placeholder: 'file', defaultLabel: 'trained first' }),
  sites: opt.list({ description: 'site ids' }),
  prefix: opt.string({ description: 'site id prefix', allowEmpty: true, default: 'site-' }),
  json: opt.flag({ description: 'print JSON' }),
};

const base = ['--data', 'D', '--source', '1', '--target', '2'];

function usageError(argv: string[]): SitekdError {
  try {
    parseCommandArgs('distill', argv, options);
  } catch (err) {
    assert.ok(err instanceof SitekdError);
    assert.equal(err.code, ErrorCode.CLI_USAGE);
    return err;
  }
  return assert.fail('expected CLI_USAGE');
}

test('parses, coerces and applies defaults', () => {
  const args = parseCommandArgs('distill', ['--data', 'DIR', '--source', '2', '--target', '11', '--epochs', '10', '-s', '3', '--json', '--sites', 'a, b,,c'], options);
  assert.deepEqual(args, {
    data: 'DIR', source: '2', target: '11', epochs: 10, lr: 0.001, seed: 3, backend: 'cpu', sites: ['a', 'b', 'c'],
    prefix: 'site-', json: true,
  });
  const epochs: number = args.epochs; // typed, not string
  const backend: 'cpu' | 'wasm' | 'tensorflow' = args.backend;
  // @ts-expect-error an option without default or `required` may be absent
  const teacher: string = args.teacher;
  assert.deepEqual([epochs, backend, teacher], [10, 'cpu', undefined]);
  const withEq = parseCommandArgs('distill', ['--data=D', '--source=1', '--target=2', '--lr=1e-3', '--backend=wasm', '--prefix='], options);
  assert.equal(withEq.lr, 0.001);
  assert.equal(withEq.backend, 'wasm');
  assert.equal(withEq.prefix, '');
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
  assert.match(usageError(['--source', '2', '--target', '11']).message, /missing required option --data/);
});

test('invalid values say what the option accepts and what it got', () => {
  const msg = (...extra: string[]): string => usageError([...base, ...extra]).message;
  assert.match(msg('--epochs', '-3'), /^--epochs must be a positive integer ≤ 1000 \(got "-3"\)/);
  assert.match(msg('--epochs', 'ten'), /--epochs must be a positive integer ≤ 1000 \(got "ten"\)/);
  assert.match(msg('--epochs', ''), /--epochs must be/);
  assert.match(msg('--epochs', '0'), /--epochs must be/);
  assert.match(msg('--epochs', '2.5'), /--epochs must be/);
  assert.match(msg('--epochs', '1001'), /--epochs must be/);
  assert.match(msg('-s', '-1'), /--seed must be a non-negative integer \(got "-1"\)/);
  assert.match(msg('--lr', 'abc'), /--lr must be a non-negative number/);
  assert.match(msg('--lr', '-.5'), /--lr must be a non-negative number \(got "-.5"\)/);
  assert.match(msg('--backend', 'gpu'), /--backend must be one of cpu, wasm, tensorflow \(got "gpu"\)/);
  assert.match(msg('--sites', ' , '), /--sites must be a comma-separated list/);
  assert.match(msg('--teacher', ''), /--teacher must be a non-empty string/);
  // Several problems are all reported, once each.
  const both = msg('--epochs', 'x', '--backend', 'gpu');
  assert.match(both, /--epochs.*; --backend/);
});

test('parseArgs-level mistakes are rephrased', () => {
  assert.match(usageError(['--data']).message, /option --data needs a value/);
  assert.match(usageError(['-s']).message, /option --seed needs a value/);
  assert.match(usageError(['--data', '--json']).message, /option --data needs a value/);
  assert.match(usageError([...base, '--teacher', '-x']).message, /option --teacher needs a value/);
  assert.match(usageError(['--json=yes']).message, /--json is a flag/);
  assert.match(usageError(['stray']).message, /unexpected argument 'stray'/);
  // A negative number after a flag is that flag's value, not an option.
  assert.equal(parseCommandArgs('x', ['--n', '-2'], { n: opt.int({ description: 'n' }) }).n, -2);
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

test('the parseArgs table and the schema come from the same declarations', () => {
  assert.deepEqual(parseArgsTable(options)['seed'], { type: 'string', short: 's' });
  assert.deepEqual(parseArgsTable(options)['json'], { type: 'boolean' });
  assert.deepEqual(Object.keys(parseArgsTable(options)), Object.keys(options));
  const schema = optionsSchema(options);
  assert.equal(schema.safeParse({ data: 'D', source: '1', target: '2' }).success, true);
  assert.equal(schema.safeParse({ source: '1', target: '2' }).success, false);
});

test('formatUsage lists every option with placeholders, defaults, choices and required marks', () => {
  const text = formatUsage('distill', { summary: 'Distil a student.', options });
  assert.match(text, /^Usage: sitekd distill \[options\]\n/);
  assert.match(text, /Distil a student\./);
  assert.match(text, /--data <dir> +dataset directory \(required\)/);
  assert.match(text, /--epochs <n> +training epochs \(default: 10\)/);
  assert.match(text, /-s, --seed <n>/);
  assert.match(text, /--backend <name> +tfjs backend \(one of: cpu, wasm, tensorflow; default: cpu\)/);
  assert.match(text, /--teacher <file> +teacher artifact \(default: trained first\)/);
  assert.match(text, /--json +print JSON\n/);
  assert.match(text, /-h, --help +show this help/);
  for (const name of Object.keys(options)) assert.match(text, new RegExp(`--${name}\\b`));
});

/**
 * Parses `sitekd <command> [options]` against the command's option declarations (shared/cli/options.ts):
 * `node:util` parseArgs splits the flags (no dependency, stable on Node 20), then the schema derived from the
 * declarations coerces and validates them. Every user mistake becomes `SitekdError(CLI_USAGE)` whose message says
 * what is wrong and how to get help.
 */
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import { optionsSchema, parseArgsTable, type Options, type Parsed } from './options';

const PROGRAM = 'sitekd';

/** The first argument if it is not a flag: `['distill', '--seed', '0']` → `{ command: 'distill', rest: [...] }`. */
export function splitSubcommand(argv: readonly string[]): { command: string | undefined; rest: string[] } {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('-')) return { command: undefined, rest: [...argv] };
  return { command: first, rest };
}

/** True if `-h`/`--help` appears before a `--` terminator; check it before parsing so help never fails validation. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Parses `argv` (the arguments after the subcommand) against `options` and validates every value. */
export function parseCommandArgs<O extends Options>(command: string, argv: readonly string[], options: O): Parsed<O> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: joinNegativeNumbers(argv, options), options: parseArgsTable(options), strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw usageError(command, describeParseError(err, options), { cause: err });
  }
  const r = optionsSchema(options).safeParse(values);
  if (!r.success) {
    const problems = [...new Set(r.error.issues.map((issue) => describeIssue(issue, values, options)))];
    throw usageError(command, problems.join('; '), {
      details: { issues: r.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
    });
  }
  return r.data;
}

/**
 * `--epochs -3` → `--epochs=-3`. parseArgs refuses a value that starts with '-' as ambiguous; for a negative number
 * that is never what was meant, and the option's own check then says what is wrong with it.
 */
function joinNegativeNumbers(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg === '--') return [...out, ...argv.slice(i)];
    const name = arg.startsWith('--') ? arg.slice(2) : Object.keys(options).find((k) => arg === `-${options[k]?.short}`);
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

// parseArgs' own messages mention internals ("place it at the end of the command after '--'"); rephrase the
// common cases by its stable error codes and keep its message for the rest.
function describeParseError(err: unknown, table: Options): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'(-[^']*)'/.exec(message)?.[1];
    if (flag === undefined) return message;
    // Only long flags get a suggestion: a one-letter typo is as close to everything as to anything.
    const guess = flag.startsWith('--') ? closestOption(flag.slice(2), Object.keys(table)) : undefined;
    return `unknown option ${flag}${guess === undefined ? '' : ` (did you mean --${guess}?)`}`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(message)?.[1];
    return `unexpected argument${arg === undefined ? '' : ` '${arg}'`}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // The message always names the long form, e.g. "Option '-s, --seed <value>' argument missing".
    const name = /--([\w-]+)/.exec(message)?.[1];
    const spec = name === undefined ? undefined : table[name];
    if (spec?.type === 'boolean') return `option --${name} is a flag and takes no value`;
    if (spec?.type === 'string') return `option --${name} needs a value (use --${name}=-x for a value starting with '-')`;
  }
  return message;
}

function describeIssue(issue: z.core.$ZodIssue, values: Record<string, unknown>, options: Options): string {
  const key = issue.path[0];
  const spec = typeof key === 'string' ? options[key] : undefined;
  if (spec === undefined) return issue.message;
  const raw = values[key as string];
  if (raw === undefined) return `missing required option --${String(key)}`;
  return `--${String(key)} must be ${spec.expects} (got ${JSON.stringify(raw)})`;
}

function usageError(command: string, problem: string, opts: { cause?: unknown; details?: Record<string, unknown> }): SitekdError {
  return new SitekdError(ErrorCode.CLI_USAGE, `${problem}\nRun '${PROGRAM} ${command} --help' for usage.`, {
    ...opts,
    details: { command, ...opts.details },
  });
}

// A typo within two edits of a known option is almost certainly that option.
function closestOption(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(sub, (prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

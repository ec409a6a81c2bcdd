/**
 * A typed argument parser for `sitekd <command> [options]`: `node:util` `parseArgs` splits the flags (zero-dependency,
 * stable on Node 20, docs/ecosystem.md §5), then a zod schema coerces and validates them (docs/conventions.md §4: zod runs on
 * CLI args). Every user mistake becomes `SitekdError(CLI_USAGE)` whose message says what is wrong and how to get help.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';

const PROGRAM = 'sitekd';

interface OptionBase {
  readonly description: string;
  /** One-letter alias, e.g. `s` for `-s`. */
  readonly short?: string;
}
export interface StringOption extends OptionBase {
  readonly type: 'string';
  readonly default?: string;
  /** Shown in usage: `--data <dir>`; defaults to `value`. */
  readonly placeholder?: string;
}
export interface BooleanOption extends OptionBase {
  readonly type: 'boolean';
  readonly default?: boolean;
}
export type OptionSpec = StringOption | BooleanOption;
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** What `parseArgs` hands to the schema: strings for string options, booleans for flags, absent if not given. */
export type RawArgs<T extends OptionTable> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string;
};

type RawValue<O extends OptionSpec> = O['type'] extends 'boolean' ? boolean : string;
// A key fits when the raw value could pass the schema: either it is a subtype of the schema's input (z.string(),
// z.coerce.* whose input is unknown) or the input narrows it (z.enum over strings). boolean vs string does not fit.
type KeyFits<R, I> = [R] extends [I] ? true : [I] extends [R] ? true : false;
type FitsByKey<T extends OptionTable, I> = {
  [K in keyof I]-?: K extends keyof T ? KeyFits<RawValue<T[K]>, NonNullable<I[K]>> : false;
}[keyof I];
// `unknown` (no constraint) when every schema key fits its option; otherwise an impossible brand, which turns a
// mismatch into a compile error at the call site. Requiredness is checked at run time, not here.
type FitsTable<T extends OptionTable, S extends z.ZodType> =
  FitsByKey<T, z.input<S>> extends true ? unknown : { readonly tableMismatch: never };

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

/**
 * Parses `argv` (the arguments after the subcommand) against `table`, then validates with `schema`.
 * The schema's input must accept the table's raw values, so a table/schema type mismatch (a flag parsed as a string,
 * a schema key with no option) fails to compile.
 */
export function parseCommandArgs<T extends OptionTable, S extends z.ZodType>(
  command: string,
  argv: readonly string[],
  table: T,
  schema: S & FitsTable<T, S>,
): z.output<S> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options: toParseArgsOptions(table), strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw usageError(command, describeParseError(err, table), { cause: err });
  }
  const r = schema.safeParse(values);
  if (!r.success) {
    const problems = r.error.issues.map((issue) => describeIssue(issue, values, table));
    throw usageError(command, problems.join('; '), {
      details: { issues: r.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
    });
  }
  return r.data;
}

/** `--help` text: usage line, then one aligned line per option. Pass the schema to mark required options. */
export function formatUsage(command: string, table: OptionTable, opts: { summary?: string; schema?: z.ZodType } = {}): string {
  const shape = opts.schema instanceof z.ZodObject ? (opts.schema.shape as Record<string, z.ZodType>) : undefined;
  const rows: Array<[string, string]> = Object.entries(table).map(([name, spec]) => {
    const flag = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}`;
    const left = spec.type === 'string' ? `${flag} <${spec.placeholder ?? 'value'}>` : flag;
    const notes: string[] = [];
    if (spec.default !== undefined && spec.type === 'string') notes.push(`default: ${spec.default}`);
    if (spec.default === true) notes.push('default: on');
    if (shape?.[name]?.safeParse(undefined).success === false && spec.default === undefined) notes.push('required');
    return [left, notes.length > 0 ? `${spec.description} (${notes.join(', ')})` : spec.description];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length));
  const lines = [`Usage: ${PROGRAM} ${command} [options]`];
  if (opts.summary !== undefined) lines.push('', opts.summary);
  lines.push('', 'Options:', ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`));
  return `${lines.join('\n')}\n`;
}

/** A zod schema for an integer given as a string; stricter than `z.coerce.number()`, which turns `''` into 0. */
export function intArg(bounds: { min?: number; max?: number } = {}): z.ZodType<number, string> {
  let n = z.number().int();
  if (bounds.min !== undefined) n = n.min(bounds.min);
  if (bounds.max !== undefined) n = n.max(bounds.max);
  return z.string().trim().regex(/^[+-]?\d+$/, { error: 'expected an integer' }).transform(Number).pipe(n);
}

/** A zod schema for a finite decimal number given as a string (`0.5`, `1e-3`). */
export function numberArg(bounds: { min?: number; max?: number } = {}): z.ZodType<number, string> {
  let n = z.number();
  if (bounds.min !== undefined) n = n.min(bounds.min);
  if (bounds.max !== undefined) n = n.max(bounds.max);
  return z
    .string()
    .trim()
    .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, { error: 'expected a number' })
    .transform(Number)
    .pipe(n);
}

type ParseArgsOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function toParseArgsOptions(table: OptionTable): ParseArgsOptions {
  const out: NonNullable<ParseArgsOptions> = {};
  for (const [name, spec] of Object.entries(table)) {
    // Copy only what parseArgs knows; `description`/`placeholder` are ours, and absent keys must stay absent.
    const o: NonNullable<ParseArgsOptions>[string] = { type: spec.type };
    if (spec.short !== undefined) o.short = spec.short;
    if (spec.default !== undefined) o.default = spec.default;
    out[name] = o;
  }
  return out;
}

// parseArgs' own messages mention internals ("place it at the end of the command after '--'"); rephrase the
// common cases by its stable error codes and keep its message for the rest.
function describeParseError(err: unknown, table: OptionTable): string {
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

function describeIssue(issue: z.core.$ZodIssue, values: Record<string, unknown>, table: OptionTable): string {
  const key = issue.path[0];
  if (typeof key !== 'string' || !(key in table)) return issue.message;
  const raw = values[key];
  if (raw === undefined) return `missing required option --${key}`;
  return `invalid value for --${key} (${JSON.stringify(raw)}): ${issue.message}`;
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

/**
 * Command-line options, each declared once: its type, description, placeholder, default and validation live in one
 * `Option`, and `node:util` parseArgs' table, the zod schema of the parsed values and the `--help` lines are all
 * derived from the declarations (`parseArgsTable`, `optionsSchema`, shared/cli/usage.ts), so they cannot drift apart.
 *
 *   const options = { epochs: opt.int({ description: 'training epochs', placeholder: 'n', min: 1, default: 10 }), … };
 *   const args = parseCommandArgs('distill', argv, options);   // args.epochs: number
 *
 * A value is parsed from the raw string parseArgs returns, so `--epochs -3` is refused with the option's `expects`
 * phrase: "--epochs must be a positive integer".
 */
import type { parseArgs } from 'node:util';
import { z } from 'zod';

/** One command-line option. `V` is the parsed value's type (with `undefined` when it may be absent). */
export interface Option<V> {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** Shown in usage: `--data <dir>`. */
  readonly placeholder: string;
  /** One-letter alias, e.g. `s` for `-s`. */
  readonly short: string | undefined;
  readonly required: boolean;
  /** The parsed value used when the option is absent; --help shows it. */
  readonly default: V | undefined;
  /** Shown in --help as the default when the value comes from elsewhere (a config file, the environment). */
  readonly defaultLabel: string | undefined;
  /** The accepted values in words, for messages: `--epochs must be ${expects}`. */
  readonly expects: string;
  /** For --help: the only accepted values, when there are few. */
  readonly choices: readonly string[] | undefined;
  /** Validates and converts the raw value (a string, or `true` for a flag). */
  readonly value: z.ZodType;
  /** Type-level only: the parsed value. */
  readonly __value?: V;
}

export type Options = Readonly<Record<string, Option<unknown>>>;

/** The parsed values of a set of options. */
export type Parsed<O extends Options> = { -readonly [K in keyof O]: O[K] extends Option<infer V> ? V : never };

interface Common {
  readonly description: string;
  readonly short?: string;
  readonly defaultLabel?: string;
}
interface StringCommon extends Common {
  readonly placeholder?: string;
}
/** Required, defaulted, or neither (then the value may be undefined). */
type Presence<T> =
  | { readonly required: true; readonly default?: never }
  | { readonly default: T; readonly required?: never }
  | { readonly required?: false; readonly default?: never };
type Out<T, C> = C extends { readonly required: true } ? T : C extends { readonly default: unknown } ? T : T | undefined;

function make<V>(value: z.ZodType, expects: string, c: StringCommon & { required?: boolean; default?: unknown }, extra: { choices?: readonly string[] } = {}): Option<V> {
  return {
    type: 'string',
    description: c.description,
    placeholder: c.placeholder ?? 'value',
    short: c.short,
    required: c.required === true,
    default: c.default as V | undefined,
    defaultLabel: c.defaultLabel,
    expects,
    choices: extra.choices,
    value,
  };
}

interface Bounds {
  readonly min?: number;
  readonly max?: number;
}

function bounded(n: z.ZodNumber, b: Bounds): z.ZodNumber {
  let out = n;
  if (b.min !== undefined) out = out.min(b.min);
  if (b.max !== undefined) out = out.max(b.max);
  return out;
}

function intExpects({ min, max }: Bounds): string {
  const upTo = max === undefined ? '' : ` ≤ ${max}`;
  if (min === 1) return `a positive integer${upTo}`;
  if (min === 0) return `a non-negative integer${upTo}`;
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
  return min !== undefined ? `an integer ≥ ${min}` : `an integer${upTo}`;
}

function numberExpects({ min, max }: Bounds): string {
  if (min !== undefined && max !== undefined) return `a number from ${min} to ${max}`;
  if (min === 0) return 'a non-negative number';
  if (min !== undefined) return `a number ≥ ${min}`;
  return max !== undefined ? `a number ≤ ${max}` : 'a number';
}

/** Builders for the option kinds. Validation is on the raw string, so `''` or `1.5` is never read as a count. */
export const opt = {
  /** A string; non-empty unless `allowEmpty`, matching `pattern` if given (then `expects` says what it wants). */
  string<const C extends StringCommon & Presence<string> & { allowEmpty?: boolean; pattern?: RegExp; expects?: string }>(c: C): Option<Out<string, C>> {
    let s = c.allowEmpty === true ? z.string() : z.string().min(1);
    if (c.pattern !== undefined) s = s.regex(c.pattern);
    return make(s, c.expects ?? (c.allowEmpty === true ? 'a string' : 'a non-empty string'), c);
  },

  int<const C extends StringCommon & Presence<number> & Bounds>(c: C): Option<Out<number, C>> {
    const n = bounded(z.number().int().max(Number.MAX_SAFE_INTEGER), c);
    return make(z.string().trim().regex(/^[+-]?\d+$/).transform(Number).pipe(n), intExpects(c), { placeholder: 'n', ...c });
  },

  /** A finite decimal number: `0.5`, `1e-3`. */
  number<const C extends StringCommon & Presence<number> & Bounds>(c: C): Option<Out<number, C>> {
    const re = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
    return make(z.string().trim().regex(re).transform(Number).pipe(bounded(z.number(), c)), numberExpects(c), { placeholder: 'x', ...c });
  },

  /** One of a few fixed words. */
  choice<const V extends readonly [string, ...string[]], const C extends StringCommon & Presence<V[number]>>(values: V, c: C): Option<Out<V[number], C>> {
    return make(z.enum(values), `one of ${values.join(', ')}`, c, { choices: values });
  },

  /** A comma-separated list (`a, b,c`); blank items are dropped and at least one must remain. */
  list<const C extends StringCommon & Presence<string[]>>(c: C): Option<Out<string[], C>> {
    const items = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));
    return make(items.pipe(z.array(z.string()).min(1)), 'a comma-separated list of at least one item', { placeholder: 'a,b', ...c });
  },

  /** A boolean flag: present = true, absent = false. */
  flag(c: Common): Option<boolean> {
    return { ...make<boolean>(z.boolean(), 'a flag without a value', { ...c, default: false }), type: 'boolean' };
  },
};

type ParseArgsOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** What `parseArgs` needs: type and alias only; defaults are applied after validation, by `optionsSchema`. */
export function parseArgsTable(options: Options): ParseArgsOptions {
  const out: ParseArgsOptions = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = o.short === undefined ? { type: o.type } : { type: o.type, short: o.short };
  }
  return out;
}

/** The zod schema of parseArgs' values: each option's validation, with its default or marked optional. */
export function optionsSchema<O extends Options>(options: O): z.ZodType<Parsed<O>, Record<string, string | boolean | undefined>> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, o] of Object.entries(options)) {
    const v = o.value as z.ZodType<unknown, unknown>;
    shape[name] = o.required ? v : o.default !== undefined ? v.optional().transform((x) => (x === undefined ? o.default : x)) : v.optional();
  }
  return z.object(shape) as unknown as z.ZodType<Parsed<O>, Record<string, string | boolean | undefined>>;
}

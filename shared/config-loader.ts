/**
 * The one way a process loads its configuration (hub/config.ts, agent/config.ts): read a JSON file, lay the
 * command line's overrides over it, validate with the process's strict zod schema, deep-freeze the result.
 * Every failure is `SitekdError(CONFIG_INVALID)` listing each problem with its path; `sitekd hub|agent` turn it into
 * exit status 78 (EX_CONFIG), so a systemd unit with `RestartPreventExitStatus=78` does not restart-loop on it.
 */
import * as fs from 'node:fs';
import type { z } from 'zod';
import { ErrorCode, SitekdError } from './errors';

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export interface ConfigIssue {
  /** Dotted path into the config, `(root)` for the object itself. */
  readonly path: string;
  readonly message: string;
}

export interface LoadConfigOptions<S extends z.ZodType> {
  readonly schema: S;
  /** How messages name the config: "hub configuration". */
  readonly what: string;
  /** A JSON file holding an object. */
  readonly file?: string | undefined;
  /** Layers below the file (deployment defaults such as systemd's STATE_DIRECTORY), lowest first. */
  readonly before?: readonly unknown[];
  /** Layers over the file (environment, then command-line flags), lowest first. */
  readonly after?: readonly unknown[];
  /** Reads the file (tests pass their own); default fs.readFileSync as UTF-8. */
  readonly readText?: (path: string) => string;
}

/** defaults (the schema's) < `before` < file < `after`, validated and deep-frozen. */
export function loadConfig<S extends z.ZodType>(opts: LoadConfigOptions<S>): DeepReadonly<z.output<S>> {
  const fromFile = opts.file === undefined ? {} : readConfigFile(opts.file, opts.readText);
  const merged = mergeLayers(...(opts.before ?? []), fromFile, ...(opts.after ?? []));
  return parseConfig(opts.schema, merged, opts.file === undefined ? opts.what : `${opts.what} (${opts.file} + flags)`);
}

/** Validates a complete config value and deep-freezes it. Throws CONFIG_INVALID listing every issue. */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, what: string): DeepReadonly<z.output<S>> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues: ConfigIssue[] = r.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `invalid ${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  return deepFreeze(r.data) as DeepReadonly<z.output<S>>;
}

/** The JSON object in `file` (not yet validated). */
export function readConfigFile(file: string, readText: (path: string) => string = readUtf8): Record<string, unknown> {
  let text: string;
  try {
    text = readText(file);
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read config file ${file}`, { cause, details: { file } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `config file ${file} is not valid JSON: ${(cause as Error).message}`, { cause, details: { file } });
  }
  if (!isPlainObject(json)) throw new SitekdError(ErrorCode.CONFIG_INVALID, `config file ${file} must hold a JSON object`, { details: { file } });
  return json;
}

/**
 * Later layers win; plain objects merge key by key (so `--broker URL` keeps the file's `broker.username`), arrays
 * and everything else are replaced whole. `undefined` values in a layer are skipped: a flag not given overrides
 * nothing.
 */
export function mergeLayers(...layers: readonly unknown[]): unknown {
  let out: unknown = {};
  for (const layer of layers) out = mergeTwo(out, layer);
  return out;
}

function mergeTwo(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (!isPlainObject(b)) return b;
  const out: Record<string, unknown> = isPlainObject(a) ? { ...a } : {};
  for (const [k, v] of Object.entries(b)) {
    const value = mergeTwo(out[k], v);
    // defineProperty: a `"__proto__"` key in a JSON file stays a key (which the strict schema refuses).
    if (value !== undefined) Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
  }
  // A layer that set nothing in an object it names leaves no empty object behind.
  return Object.keys(out).length === 0 && !isPlainObject(a) ? a : out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** Freezes `v` and everything reachable from it, so no component can change the config another one reads. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

function readUtf8(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

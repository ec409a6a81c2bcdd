/**
 * A small structured logger for the hub and agent processes: one line per event, a constant message and the data in
 * fields (docs/conventions.md §2), written to the stream the composition root hands in (stderr): `time level msg k=v` or JSON
 * lines. No dependency: neither process logs per message.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly LogLevel[];
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  readonly stream: { write(s: string): unknown };
  readonly level?: LogLevel;
  /** JSON lines (for journald/log shippers) instead of `time level msg k=v`. */
  readonly json?: boolean;
  readonly now?: () => number;
}

export function createLogger(opts: LoggerOptions, bound: LogFields = {}): Logger {
  const min = RANK[opts.level ?? 'info'];
  const now = opts.now ?? Date.now;
  const write = (level: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (RANK[level] < min) return;
    const all = { ...bound, ...fields };
    const time = new Date(now()).toISOString();
    try {
      if (opts.json === true) opts.stream.write(`${JSON.stringify({ time, level, msg, ...all }, replacer)}\n`);
      else opts.stream.write(`${time} ${level.padEnd(5)} ${msg}${formatFields(all)}\n`);
    } catch {
      // A closed stream must not take the hub down.
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(opts, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

function formatFields(fields: LogFields): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v, replacer)}`);
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, ...('code' in value ? { code: value.code } : {}) };
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/** JSON lines on `stream` at `level` and above, with `base` fields on every line (the agent's format). */
export function createJsonLogger(stream: { write(s: string): unknown }, level: LogLevel, base: LogFields = {}, now: () => number = Date.now): Logger {
  return createLogger({ stream, level, json: true, now }, base);
}

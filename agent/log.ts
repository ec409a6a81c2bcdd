/**
 * A small structured logger: constant message, data in fields (house-style §3.3), one JSON line per entry. The agent
 * takes a `Logger`; `agent/main.ts` creates the stderr one, tests pass `silentLogger` or a recording one.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly LogLevel[];

/** JSON lines on `stream` at `level` and above; `base` fields go on every line (e.g. site and agent id). */
export function createJsonLogger(stream: { write(s: string): unknown }, level: LogLevel, base: LogFields = {}, now: () => number = Date.now): Logger {
  const min = RANK[level];
  const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date(now()).toISOString(), level: lvl, msg, ...base, ...fields }, errorReplacer);
    } catch {
      line = JSON.stringify({ time: new Date(now()).toISOString(), level: lvl, msg, ...base, note: 'fields not serialisable' });
    }
    stream.write(`${line}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

// Errors have no enumerable fields; log their code and message instead of `{}`.
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { name: value.name, message: value.message } : { code, message: value.message };
  }
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/**
 * The structured logger every process uses, on pino: one line per event, a constant message and the data in fields
 * (`log.info('model swapped', { version })`). Components see only the `Logger` interface below; the composition root
 * (or a test) decides where lines go. JSON lines (for journald and log shippers) unless the stream is a terminal,
 * where the same event is printed as `time level msg k=v`.
 *
 * Lines are written synchronously to the stream the caller hands in (stderr, a test's PassThrough): no pino
 * transport, no worker thread, so the injected stream and the injected clock are all a test needs to capture logs.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly LogLevel[];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** The part of a writable stream the logger uses; `isTTY` picks the default format. */
export interface LogStream {
  write(s: string): unknown;
  readonly isTTY?: boolean | undefined;
}

export interface LoggerOptions {
  readonly stream: LogStream;
  readonly level?: LogLevel;
  /** JSON lines (true) or `time level msg k=v` (false). Default: text on a terminal, JSON lines otherwise. */
  readonly json?: boolean;
  /** Milliseconds since the epoch, for the `time` field (tests pin it). */
  readonly now?: () => number;
}

export function createLogger(opts: LoggerOptions, bound: LogFields = {}): Logger {
  const now = opts.now ?? Date.now;
  const json = opts.json ?? opts.stream.isTTY !== true;
  const p = pino(
    {
      level: opts.level ?? 'info',
      // pid and hostname are what journald and container runtimes already record; keep lines short.
      base: undefined,
      messageKey: 'msg',
      // Errors are already reduced by `loggable`; pino's own `err` serializer would add an empty stack to them.
      serializers: { err: (e: unknown) => e },
      timestamp: () => `,"time":"${new Date(now()).toISOString()}"`,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (b) => loggable(b, 0) as Record<string, unknown>,
        log: (o) => loggable(o, 0) as Record<string, unknown>,
      },
    },
    json ? guarded(opts.stream) : textDestination(opts.stream),
  );
  return wrap(Object.keys(bound).length === 0 ? p : p.child(bound));
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

function wrap(p: PinoLogger): Logger {
  // pino takes (fields, msg); the Logger interface takes (msg, fields) so a call reads like a sentence.
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (fields) => wrap(p.child(fields)),
  };
}

function guarded(stream: LogStream): DestinationStream {
  return {
    write(line: string) {
      try {
        stream.write(line);
      } catch {
        // A closed stream must not take the process down with it.
      }
    },
  };
}

/** The human format, rebuilt from pino's JSON line: `time level msg k=v …` (bound fields first). */
function textDestination(stream: LogStream): DestinationStream {
  const out = guarded(stream);
  return {
    write(line: string) {
      const { time, level, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
      out.write(`${String(time)} ${String(level).padEnd(5)} ${String(msg ?? '')}${formatFields(fields)}\n`);
    },
  };
}

function formatFields(fields: Record<string, unknown>): string {
  const parts = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) && v !== '' ? v : JSON.stringify(v)}`);
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

const MAX_DEPTH = 8;

/**
 * Field values as JSON can show them: an Error as its name, message and code (a stack per warning would drown the
 * log), bytes as their length (a model or a batch of windows must never be dumped), bigints as numbers.
 */
function loggable(value: unknown, depth: number): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, ...('code' in value ? { code: value.code } : {}) };
  }
  if (ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => loggable(v, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value; // Date, Map…: pino's own JSON handles them
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = loggable(v, depth + 1);
  return out;
}

/**
 * The shape of a `sitekd` subcommand. A command is two modules: a light spec (name, summary, option declarations),
 * which `sitekd --help` and `sitekd <command> --help` read without loading tfjs, and the command itself, built with
 * `defineCommand`, which parses the arguments against the spec and hands the run function typed values and a logger.
 */
import { createLogger, type LogFields, type Logger, type LogLevel } from '../log';
import { parseCommandArgs } from './args';
import { logLevelFlag, type LoggingArgs, type loggingOptions } from './option-groups';
import type { Options, Parsed } from './options';

export interface CommandIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface CommandSpec<O extends Options = Options> {
  readonly name: string;
  /** One line for `sitekd --help`. */
  readonly summary: string;
  readonly options: O;
  /** Exit statuses the command gives beyond the usual ones (docs/conventions.md §3), for its --help. */
  readonly exits?: Readonly<Record<number, string>>;
}

export interface Command {
  readonly spec: CommandSpec;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

export interface CommandContext {
  readonly io: CommandIo;
  /** On stderr, at the level the flags ask for. */
  readonly log: Logger;
  /** Another logger in the same format, e.g. at a level read from a config file. */
  logger(opts: { level?: LogLevel; bindings?: LogFields }): Logger;
}

/** Every command takes the logging options, so the spec must include them (`...loggingOptions`). */
export function defineCommand<O extends Options & typeof loggingOptions>(
  spec: CommandSpec<O>,
  run: (args: Parsed<O>, ctx: CommandContext) => Promise<number>,
): Command {
  return {
    spec,
    async run(argv, io) {
      const args = parseCommandArgs(spec.name, argv, spec.options);
      const logging = args as unknown as LoggingArgs; // O includes the logging options (the constraint above)
      const logger = (opts: { level?: LogLevel; bindings?: LogFields }): Logger =>
        createLogger(
          { stream: io.stderr, level: opts.level ?? logLevelFlag(logging) ?? 'info', ...(logging['log-json'] ? { json: true } : {}) },
          opts.bindings,
        );
      return run(args, { io, log: logger({}), logger });
    },
  };
}

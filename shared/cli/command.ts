/** The shape of a `sitekd` subcommand, shared by the dispatcher and the hub and agent command modules. */
import type { z } from 'zod';
import type { OptionTable } from './args';

export interface CommandIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Command {
  readonly summary: string;
  /** For `--help`: the option table and schema (required options are marked). */
  readonly usage?: { readonly table: OptionTable; readonly schema: z.ZodType };
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

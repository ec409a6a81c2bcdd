#!/usr/bin/env node
/**
 * The `sitekd` executable: picks a subcommand and loads it lazily. This is the only shared/ file allowed to name
 * hub/ and agent/ modules (test/unit/architecture.test.ts): it is the process entry, not library code.
 */
import { isSitekdError } from '../shared/errors';
import { formatUsage, splitSubcommand, wantsHelp } from '../shared/cli/args';
import type { Command, CommandIo } from '../shared/cli/command';

// require() keeps each command's dependencies (tfjs, mqtt, …) unloaded until that command runs.
/* eslint-disable @typescript-eslint/no-require-imports */
const commands: Record<string, () => Promise<Command>> = {
  demo: async () => (require('../lab/demo') as typeof import('../lab/demo')).demoCommand,
  'train-teacher': async () => (require('../lab/train-teacher') as typeof import('../lab/train-teacher')).trainTeacherCommand,
  distill: async () => (require('../lab/distill') as typeof import('../lab/distill')).distillCommand,
  eval: async () => (require('../lab/eval') as typeof import('../lab/eval')).evalCommand,
  hub: async () => (require('../hub/main') as typeof import('../hub/main')).hubCommand,
  redistill: async () => (require('../hub/cli/redistill') as typeof import('../hub/cli/redistill')).redistillCommand,
  agent: async () => (require('../agent/main') as typeof import('../agent/main')).agentCommand,
  fleet: async () => (require('../fleet/cli') as typeof import('../fleet/cli')).fleetCommand,
  sim: async () => (require('../sim/cli') as typeof import('../sim/cli')).simCommand,
  'import-uci': async () => (require('../lab/import-uci') as typeof import('../lab/import-uci')).importUciCommand,
};

async function main(argv: string[], io: CommandIo): Promise<number> {
  const { command, rest } = splitSubcommand(argv);
  const load = command === undefined ? undefined : commands[command];
  if (load === undefined) {
    const names = await Promise.all(Object.entries(commands).map(async ([n, l]) => `  ${n.padEnd(14)} ${(await l()).summary}`));
    io.stderr.write(`${command === undefined ? '' : `unknown command '${command}'\n\n`}Usage: sitekd <command> [options]\n\nCommands:\n${names.join('\n')}\n`);
    return command === undefined && wantsHelp(argv) ? 0 : 64;
  }
  const cmd = await load();
  if (wantsHelp(rest)) {
    io.stdout.write(cmd.usage ? formatUsage(command as string, cmd.usage.table, { summary: cmd.summary, schema: cmd.usage.schema }) : `${cmd.summary}\n`);
    return 0;
  }
  return cmd.run(rest, io);
}

const io: CommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (isSitekdError(err)) {
      process.stderr.write(`sitekd: ${err.code}: ${err.message}\n`);
      // sysexits: 64 = bad usage, 78 = bad configuration (systemd units do not restart on 78).
      process.exitCode = err.code === 'SITEKD_ERR_CLI_USAGE' ? 64 : err.code === 'SITEKD_ERR_CONFIG_INVALID' ? 78 : 1;
    } else {
      process.stderr.write(`sitekd: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  },
);

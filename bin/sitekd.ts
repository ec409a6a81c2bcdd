#!/usr/bin/env node
/**
 * The `sitekd` executable: picks a subcommand and loads it lazily. The only file that names every program (hub/,
 * agent/, sim/, lab/, fleet/; test/unit/architecture.test.ts): it is the process entry, not library code.
 *
 * Each command has a light spec module (name, summary, options) and the command module proper. `sitekd --help`,
 * `sitekd <command> --help` and `sitekd --version` read only the specs, so they never load tfjs or an MQTT client
 * (test/cli/sitekd-help.test.ts checks it).
 */
import { isSitekdError } from '../shared/errors';
import { splitSubcommand, wantsHelp } from '../shared/cli/args';
import type { Command, CommandIo, CommandSpec } from '../shared/cli/command';
import { formatUsage } from '../shared/cli/usage';
import { sitekdVersion } from '../shared/version';

/* eslint-disable @typescript-eslint/no-require-imports */
// require() keeps each command's dependencies (tfjs, mqtt, …) unloaded until that command runs.
const lab = (): typeof import('../lab/specs') => require('../lab/specs') as typeof import('../lab/specs');
const hub = (): typeof import('../hub/cli/specs') => require('../hub/cli/specs') as typeof import('../hub/cli/specs');

interface Entry {
  readonly spec: () => CommandSpec;
  readonly load: () => Command;
}

const commands: Readonly<Record<string, Entry>> = {
  demo: { spec: () => lab().demoSpec, load: () => (require('../lab/demo') as typeof import('../lab/demo')).demoCommand },
  'train-teacher': {
    spec: () => lab().trainTeacherSpec,
    load: () => (require('../lab/train-teacher') as typeof import('../lab/train-teacher')).trainTeacherCommand,
  },
  distill: { spec: () => lab().distillSpec, load: () => (require('../lab/distill') as typeof import('../lab/distill')).distillCommand },
  eval: { spec: () => lab().evalSpec, load: () => (require('../lab/eval') as typeof import('../lab/eval')).evalCommand },
  hub: { spec: () => hub().hubSpec, load: () => (require('../hub/main') as typeof import('../hub/main')).hubCommand },
  redistill: {
    spec: () => hub().redistillSpec,
    load: () => (require('../hub/cli/redistill') as typeof import('../hub/cli/redistill')).redistillCommand,
  },
  rollback: {
    spec: () => hub().rollbackSpec,
    load: () => (require('../hub/cli/rollback') as typeof import('../hub/cli/rollback')).rollbackCommand,
  },
  watch: { spec: () => hub().watchSpec, load: () => (require('../hub/cli/watch') as typeof import('../hub/cli/watch')).watchCommand },
  status: { spec: () => hub().statusSpec, load: () => (require('../hub/cli/status') as typeof import('../hub/cli/status')).statusCommand },
  models: { spec: () => hub().modelsSpec, load: () => (require('../hub/cli/status') as typeof import('../hub/cli/status')).modelsCommand },
  jobs: { spec: () => hub().jobsSpec, load: () => (require('../hub/cli/status') as typeof import('../hub/cli/status')).jobsCommand },
  credentials: {
    spec: () => hub().credentialsSpec,
    load: () => (require('../hub/cli/credentials') as typeof import('../hub/cli/credentials')).credentialsCommand,
  },
  agent: {
    spec: () => (require('../agent/cli') as typeof import('../agent/cli')).agentSpec,
    load: () => (require('../agent/main') as typeof import('../agent/main')).agentCommand,
  },
  fleet: {
    spec: () => (require('../fleet/spec') as typeof import('../fleet/spec')).fleetSpec,
    load: () => (require('../fleet/cli') as typeof import('../fleet/cli')).fleetCommand,
  },
  sim: {
    spec: () => (require('../sim/spec') as typeof import('../sim/spec')).simSpec,
    load: () => (require('../sim/cli') as typeof import('../sim/cli')).simCommand,
  },
  'adapt-eval': {
    spec: () => lab().adaptEvalSpec,
    load: () => (require('../lab/adapt-eval') as typeof import('../lab/adapt-eval')).adaptEvalCommand,
  },
  'import-uci': {
    spec: () => lab().importUciSpec,
    load: () => (require('../lab/import-uci') as typeof import('../lab/import-uci')).importUciCommand,
  },
};

function overview(): string {
  const names = Object.entries(commands).map(([name, e]) => `  ${name.padEnd(14)} ${e.spec().summary}`);
  return [
    'Usage: sitekd <command> [options]',
    '',
    'Commands:',
    ...names,
    '',
    'Options:',
    `  ${'-h, --help'.padEnd(14)} show this help; sitekd <command> --help lists a command's options`,
    `  ${'-V, --version'.padEnd(14)} print the version`,
    '',
  ].join('\n');
}

async function main(argv: string[], io: CommandIo): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout.write(`${sitekdVersion()}\n`);
    return 0;
  }
  const { command, rest } = splitSubcommand(argv);
  // hasOwn: `sitekd toString` is an unknown command, not Object.prototype's.
  const entry = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (command === undefined || entry === undefined) {
    const help = command === undefined && wantsHelp(argv);
    (help ? io.stdout : io.stderr).write(`${command === undefined ? '' : `unknown command '${command}'\n\n`}${overview()}`);
    return help ? 0 : 64;
  }
  if (wantsHelp(rest)) {
    io.stdout.write(formatUsage(command, entry.spec()));
    return 0;
  }
  return entry.load().run(rest, io);
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

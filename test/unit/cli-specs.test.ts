/**
 * Every command's option declarations: the shared groups are in, each declared default passes its own option's
 * validation (a default that `--x <default>` would refuse is a bug), and --help derives every line from them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentSpec } from '../../agent/cli';
import { fleetSpec } from '../../fleet/spec';
import { hubSpec, jobsSpec, modelsSpec, redistillSpec, rollbackSpec, statusSpec } from '../../hub/cli/specs';
import { demoSpec, distillSpec, evalSpec, importUciSpec, trainTeacherSpec } from '../../lab/specs';
import { parseCommandArgs } from '../../shared/cli/args';
import type { CommandSpec } from '../../shared/cli/command';
import { loggingOptions } from '../../shared/cli/option-groups';
import { formatUsage } from '../../shared/cli/usage';
import { isSitekdError } from '../../shared/errors';
import { simSpec } from '../../sim/spec';

const specs: readonly CommandSpec[] = [
  demoSpec, trainTeacherSpec, distillSpec, evalSpec, importUciSpec, hubSpec, redistillSpec, rollbackSpec, statusSpec, modelsSpec, jobsSpec, agentSpec, simSpec, fleetSpec,
];

test('every command takes the logging options', () => {
  for (const spec of specs) {
    for (const name of Object.keys(loggingOptions)) assert.ok(name in spec.options, `${spec.name} lacks --${name}`);
  }
});

test('every declared default is a value its own option accepts', () => {
  for (const spec of specs) {
    for (const [name, o] of Object.entries(spec.options)) {
      if (o.type !== 'string' || o.default === undefined) continue;
      const raw = Array.isArray(o.default) ? o.default.join(',') : String(o.default);
      const r = o.value.safeParse(raw);
      assert.ok(r.success, `${spec.name} --${name}: default ${raw} fails its own check`);
      assert.deepEqual(r.data, o.default, `${spec.name} --${name}`);
    }
  }
});

test('help shows every option, and descriptions leave defaults to the declaration', () => {
  for (const spec of specs) {
    const text = formatUsage(spec.name, spec);
    for (const name of Object.keys(spec.options)) assert.match(text, new RegExp(`--${name}\\b`), `${spec.name} --${name}`);
    for (const [name, o] of Object.entries(spec.options)) {
      assert.doesNotMatch(o.description, /\(default/, `${spec.name} --${name}: put the default in the declaration`);
    }
  }
});

test('a command that declares its exit statuses lists them in --help', () => {
  const text = formatUsage(rollbackSpec.name, rollbackSpec);
  assert.match(text, /\nExit status:\n {4}0 {2}the earlier version was published\n {4}1 {2}the hub refused/);
  assert.match(formatUsage(redistillSpec.name, redistillSpec), /\n {4}2 {2}the gate rejected the candidate, or the round was skipped\n/);
  assert.doesNotMatch(formatUsage(simSpec.name, simSpec), /Exit status/);
});

test('rollback --to takes a version id and --reason at most 500 characters', () => {
  const a = parseCommandArgs('rollback', ['--site', 's', '--to', '2-0123abcd', '--reason', 'worse on line 3'], rollbackSpec.options);
  assert.deepEqual([a.to, a.reason, a.timeout], ['2-0123abcd', 'worse on line 3', 60]);
  for (const bad of [['--to', 'a/b'], ['--reason', 'x'.repeat(501)], ['--reason', '']]) {
    assert.throws(() => parseCommandArgs('rollback', ['--site', 's', ...bad], rollbackSpec.options), (e: unknown) => isSitekdError(e, 'SITEKD_ERR_CLI_USAGE'), bad.join(' '));
  }
});

test('--verbose is --log-level debug; a bad level is a usage error', () => {
  const a = parseCommandArgs('sim', ['--sites', '1', '--verbose'], simSpec.options);
  assert.equal(a.verbose, true);
  assert.equal(a['log-level'], undefined);
  assert.throws(
    () => parseCommandArgs('sim', ['--sites', '1', '--log-level', 'loud'], simSpec.options),
    (e: unknown) => isSitekdError(e, 'SITEKD_ERR_CLI_USAGE') && /--log-level must be one of debug, info, warn, error/.test(e.message),
  );
});

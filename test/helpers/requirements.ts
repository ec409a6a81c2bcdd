/**
 * The one place that decides whether a test needing something outside node_modules runs, skips or fails.
 *
 * - Available: the test runs.
 * - Missing, and not needed in CI (the real data in ../shared/data, which a fresh clone does not have): a skip,
 *   everywhere, so a clone without data passes.
 * - Missing, needed in CI (mosquitto, which .ci/run installs): a skip on a developer's machine, but a *failure*
 *   when CI is set. Otherwise a broken apt step would turn the broker tests into quiet skips and CI would stay green
 *   without ever talking to a real Mosquitto.
 *
 * Tests declare what they need with `testNeeding(requirement, name, options, fn)` instead of computing `skip` themselves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext, type TestOptions } from 'node:test';
import { repoRoot } from './repo-root';

export interface Requirement {
  /** What the test needs, for messages: "mosquitto", "the UCI-HAR data at …". */
  readonly what: string;
  /** Why it is not there, or undefined when it is. */
  readonly missing: string | undefined;
  /** True when CI must provide it, so that its absence there fails the test instead of skipping it. */
  readonly requiredInCi: boolean;
}

export type Verdict = { readonly kind: 'run' } | { readonly kind: 'skip'; readonly reason: string } | { readonly kind: 'fail'; readonly reason: string };

/** CI mode: the CI variable set to anything but '', '0' or 'false' (CI systems set CI=true). */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env['CI'] ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

export function verdict(req: Requirement, env: NodeJS.ProcessEnv = process.env): Verdict {
  if (req.missing === undefined) return { kind: 'run' };
  if (req.requiredInCi && isCi(env)) {
    return { kind: 'fail', reason: `${req.missing}; CI=${env['CI']} makes a missing ${req.what} a failure, not a skip` };
  }
  return { kind: 'skip', reason: req.missing };
}

type TestFn = (t: TestContext) => void | Promise<void>;

/** `test(name, options, fn)`, run, skipped or failed as `verdict` says. Works inside `describe` too. */
export function testNeeding(req: Requirement, name: string, options: TestOptions, fn: TestFn): void {
  const v = verdict(req);
  if (v.kind === 'run') test(name, options, fn);
  else if (v.kind === 'skip') test(name, { ...options, skip: v.reason }, fn);
  else test(name, options, () => assert.fail(v.reason));
}

// ---------------------------------------------------------------------------------------------------------------
// The requirements the suite has

const MOSQUITTO_BINARIES = ['mosquitto', 'mosquitto_pub', 'mosquitto_sub'] as const;

/** The Debian mosquitto broker and its command-line clients on PATH (.ci/run installs them). */
export function mosquitto(env: NodeJS.ProcessEnv = process.env): Requirement {
  const absent = MOSQUITTO_BINARIES.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`], { env, stdio: 'ignore' }).status !== 0);
  return {
    what: 'mosquitto',
    missing: absent.length === 0 ? undefined : `mosquitto is not installed (${absent.join(', ')} not on PATH; Debian packages mosquitto, mosquitto-clients)`,
    requiredInCi: true,
  };
}

/** Where the browser test finds Chromium: SITEKD_CHROMIUM, else Debian's package (.ci/run installs it). */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['SITEKD_CHROMIUM'] ?? '/usr/bin/chromium';
}

/** A Chromium binary for the dashboard's browser test (test/e2e/dashboard.test.ts); playwright-core drives it. */
export function chromium(env: NodeJS.ProcessEnv = process.env): Requirement {
  const file = chromiumPath(env);
  return {
    what: 'chromium',
    missing: fs.existsSync(file) ? undefined : `chromium is not installed (${file} not found; Debian package chromium, or set SITEKD_CHROMIUM)`,
    requiredInCi: true,
  };
}

/** `<repo>/../shared/data` (the real data next to a checkout); it may not exist. */
export function realDataRoot(start: string): string {
  return path.resolve(repoRoot(start), '..', 'shared', 'data');
}

/** A file or directory of the real data; never required, in CI either (a fresh clone has no data). */
export function realData(file: string): Requirement {
  return { what: `real data ${file}`, missing: fs.existsSync(file) ? undefined : `real data not found at ${file}`, requiredInCi: false };
}

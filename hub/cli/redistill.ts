/**
 * `sitekd redistill --site S`: asks a running hub to redistill one site, over MQTT, and prints the outcome.
 * Works with any broker the hub uses (MQTT 3.1.1 is enough): the command carries its correlation id and reply topic
 * in the payload (docs/protocol.md "Commands"). Order matters: subscribe to the reply topic and to hub/jobs first,
 * then publish, so neither the reply nor an early job event can be missed.
 * Exit status: 0 published, 2 rejected by the gate or skipped, 1 failed (or any error).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { defineCommand, type CommandIo } from '../../shared/cli/command';
import type { Parsed } from '../../shared/cli/options';
import { ErrorCode, SitekdError, type ErrorCode as Code } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { HubReplySchema, JobEventSchema, type HubCommand, type HubReply, type JobEvent } from '../../shared/protocol/messages';
import { hubCmdTopic, hubJobsTopic, replyTopic, requireSiteId } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Logger } from '../../shared/log';
import { redistillSpec } from './specs';

const FINAL_STATES: readonly JobEvent['state'][] = ['done', 'failed', 'skipped', 'rejected'];

export interface RedistillOutcome {
  readonly site: string;
  readonly jobId: string;
  readonly reply: HubReply;
  readonly event: JobEvent;
}

/** Sends `redistill` for `site` and waits for the job's final event. Throws CMD_TIMEOUT or the hub's error code. */
export async function requestRedistill(
  t: MqttTransport,
  opts: { site: string; clientId: string; timeoutMs: number; onEvent?: (e: JobEvent) => void },
): Promise<RedistillOutcome> {
  const id = `c-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const reply$ = deferred<HubReply>();
  const final$ = deferred<JobEvent>();
  const events: JobEvent[] = [];
  let jobId: string | undefined;
  const consider = (e: JobEvent): void => {
    if (e.jobId !== jobId) return;
    opts.onEvent?.(e);
    if (FINAL_STATES.includes(e.state)) final$.resolve(e);
  };
  await t.subscribe(hubJobsTopic(), (_topic, payload) => {
    const r = decode(JobEventSchema, payload);
    if (!r.ok) return;
    if (jobId === undefined) events.push(r.value); // before the reply names our job
    else consider(r.value);
  });
  const replyTo = replyTopic(opts.clientId);
  await t.subscribe(replyTo, (_topic, payload) => {
    const r = decode(HubReplySchema, payload);
    if (r.ok && r.value.id === id) reply$.resolve(r.value);
  });
  const cmd: HubCommand = { id, cmd: 'redistill', site: opts.site, replyTo };
  await t.publish(hubCmdTopic(), encode(cmd), { qos: 1 });
  const timer = setTimeout(() => {
    const err = new SitekdError(ErrorCode.CMD_TIMEOUT, jobId === undefined
      ? `no reply from a hub within ${opts.timeoutMs / 1000} s (is a hub connected to this broker?)`
      : `job ${jobId} did not finish within ${opts.timeoutMs / 1000} s (it may still be running on the hub)`);
    reply$.reject(err);
    final$.reject(err);
  }, opts.timeoutMs);
  try {
    const reply = await reply$.promise;
    if (!reply.ok) {
      const code = reply.error?.code ?? ErrorCode.JOB_FAILED;
      throw new SitekdError((Object.values(ErrorCode) as string[]).includes(code) ? (code as Code) : ErrorCode.JOB_FAILED, `the hub refused: ${reply.error?.message ?? 'no reason given'}`);
    }
    const j = reply.result?.['jobId'];
    if (typeof j !== 'string') throw new SitekdError(ErrorCode.MSG_SCHEMA, 'the hub replied without a job id');
    jobId = j;
    for (const e of events.splice(0)) consider(e);
    const event = await final$.promise;
    return { site: opts.site, jobId: j, reply, event };
  } finally {
    clearTimeout(timer);
  }
}

async function run(a: Parsed<typeof redistillSpec.options>, io: CommandIo, log: Logger): Promise<number> {
  const site = requireSiteId(a.site);
  // A broker with authentication binds the client id to the user name (docs/protocol.md, Security).
  const clientId = a['client-id'] ?? a.username ?? `sitekd-cli-${randomBytes(4).toString('hex')}`;
  const password = a.password ?? io.env['SITEKD_MQTT_PASSWORD'];
  const read = (f: string): string => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch (cause) {
      throw new SitekdError(ErrorCode.CLI_USAGE, `cannot read ${f}`, { cause });
    }
  };
  const timeoutMs = a.timeout * 1000;
  const t = await MqttTransport.connect(
    {
      url: a.broker, clientId, protocol: 'auto', reconnectPeriodMs: 1000,
      ...(a.username !== undefined ? { username: a.username } : {}), ...(password !== undefined ? { password } : {}),
      ...(a.ca !== undefined ? { ca: read(a.ca) } : {}), ...(a.cert !== undefined ? { cert: read(a.cert) } : {}), ...(a.key !== undefined ? { key: read(a.key) } : {}),
    },
    Math.min(timeoutMs, 10_000),
  );
  log.debug('connected', { broker: a.broker, clientId });
  try {
    const out = await requestRedistill(t, {
      site, clientId, timeoutMs,
      onEvent: (e) => {
        log.debug('job event', { jobId: e.jobId, state: e.state, progress: e.progress });
        if (a.json) return;
        const pct = e.progress !== undefined ? ` ${Math.round(100 * e.progress)}%` : '';
        io.stderr.write(`${e.jobId} ${e.state}${pct}${e.message !== undefined && e.state === 'running' ? ` ${e.message}` : ''}\n`);
      },
    });
    const e = out.event;
    if (a.json) {
      io.stdout.write(`${JSON.stringify({ site, jobId: out.jobId, state: e.state, trigger: e.trigger, coalesced: out.reply.result?.['coalesced'] === true, message: e.message, result: e.result ?? null })}\n`);
    } else {
      const r = e.result;
      const agree = r?.candidateAgreement !== undefined && r.currentAgreement !== undefined
        ? `; teacher agreement candidate ${(100 * r.candidateAgreement).toFixed(1)}% vs current ${(100 * r.currentAgreement).toFixed(1)}%` : '';
      const head = e.state === 'done' ? `published ${r?.version ?? '?'}` : e.state;
      io.stdout.write(`${site}: job ${out.jobId} ${head}${agree}${r?.windows !== undefined ? `; ${r.windows} windows` : ''}${r?.seconds !== undefined ? `; ${r.seconds.toFixed(1)} s` : ''}\n`);
      if (e.message !== undefined && e.state !== 'done') io.stdout.write(`  ${e.message}\n`);
    }
    return e.state === 'done' ? 0 : e.state === 'failed' ? 1 : 2;
  } finally {
    await t.close().catch(() => undefined);
  }
}

export const redistillCommand = defineCommand(redistillSpec, (a, { io, log }) => run(a, io, log));

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * What the command clients (`sitekd redistill`, `sitekd rollback`) share: connecting to the hub's broker with the
 * options of hub/cli/specs.ts, and one command → one reply on the client's reply topic (docs/protocol.md "Commands").
 * Order matters: subscribe to the reply topic first, then publish, so the reply cannot be missed.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { CommandIo } from '../../shared/cli/command';
import { ErrorCode, SitekdError, type ErrorCode as Code } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { HubReplySchema, type HubCommand, type HubReply } from '../../shared/protocol/messages';
import { hubCmdTopic, replyTopic } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';

export interface HubClientArgs {
  readonly broker: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly 'client-id': string | undefined;
  readonly timeout: number;
}

/** A fresh command id. */
export function commandId(): string {
  return `c-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Connects with the client's options (password also from SITEKD_MQTT_PASSWORD); CLI_USAGE for an unreadable PEM file. */
export async function connectHubClient(a: HubClientArgs, io: CommandIo): Promise<{ readonly t: MqttTransport; readonly clientId: string }> {
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
  const t = await MqttTransport.connect(
    {
      url: a.broker, clientId, protocol: 'auto', reconnectPeriodMs: 1000,
      ...(a.username !== undefined ? { username: a.username } : {}), ...(password !== undefined ? { password } : {}),
      ...(a.ca !== undefined ? { ca: read(a.ca) } : {}), ...(a.cert !== undefined ? { cert: read(a.cert) } : {}), ...(a.key !== undefined ? { key: read(a.key) } : {}),
    },
    Math.min(a.timeout * 1000, 10_000),
  );
  return { t, clientId };
}

/** The hub's error code as ours, JOB_FAILED for a code this version does not know. */
export function hubError(reply: HubReply): SitekdError {
  const code = reply.error?.code ?? ErrorCode.JOB_FAILED;
  const known = (Object.values(ErrorCode) as string[]).includes(code) ? (code as Code) : ErrorCode.JOB_FAILED;
  return new SitekdError(known, `the hub refused: ${reply.error?.message ?? 'no reason given'}`);
}

/** Sends `cmd` and resolves with the hub's reply (ok or not). CMD_TIMEOUT without one within `timeoutMs`. */
export async function sendCommand(t: MqttTransport, cmd: Omit<HubCommand, 'replyTo'>, clientId: string, timeoutMs: number): Promise<HubReply> {
  const replyTo = replyTopic(clientId);
  let timer: NodeJS.Timeout | undefined;
  let resolve!: (r: HubReply) => void;
  const reply = new Promise<HubReply>((res, rej) => {
    resolve = res;
    timer = setTimeout(() => rej(new SitekdError(ErrorCode.CMD_TIMEOUT, `no reply from a hub within ${timeoutMs / 1000} s (is a hub connected to this broker?)`)), timeoutMs);
  });
  try {
    await t.subscribe(replyTo, (_topic, payload) => {
      const r = decode(HubReplySchema, payload);
      if (r.ok && r.value.id === cmd.id) resolve(r.value);
    });
    await t.publish(hubCmdTopic(), encode({ ...cmd, replyTo }), { qos: 1 });
    return await reply;
  } finally {
    clearTimeout(timer);
  }
}

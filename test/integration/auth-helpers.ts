/**
 * Helpers of the broker authentication tests (not a test file): raw MQTT.js logins that report the CONNACK code,
 * publishes that tell whether the broker kept the connection, the real `mosquitto_*` clients, and `sitekd
 * credentials add` run as the CLI it is (its generated password is the last line of stdout).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';

export const CLI = path.resolve(__dirname, '../../bin/sitekd.js');

export interface Login {
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: string;
}

export type LoginResult = { readonly ok: true; readonly client: MqttClient } | { readonly ok: false; readonly code: number | undefined; readonly message: string };

/** One CONNECT (MQTT 3.1.1, no reconnect): the connected client, or the refusal's CONNACK code. */
export function tryLogin(url: string, l: Login, timeoutMs = 5000): Promise<LoginResult> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId: l.clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: timeoutMs, clean: true,
      ...(l.username !== undefined ? { username: l.username } : {}), ...(l.password !== undefined ? { password: l.password } : {}),
      ...(l.ca !== undefined ? { ca: l.ca } : {}),
    });
    const timer = setTimeout(() => done({ ok: false, code: undefined, message: 'timeout' }), timeoutMs);
    const done = (r: LoginResult): void => {
      clearTimeout(timer);
      client.removeAllListeners('connect');
      if (!r.ok) client.end(true);
      resolve(r);
    };
    client.once('connect', () => done({ ok: true, client }));
    client.once('error', (err: Error & { code?: number }) => done({ ok: false, code: typeof err.code === 'number' ? err.code : undefined, message: err.message }));
    client.once('close', () => done({ ok: false, code: undefined, message: 'closed' }));
  });
}

export async function login(url: string, l: Login): Promise<MqttClient> {
  const r = await tryLogin(url, l);
  if (!r.ok) throw new Error(`login of ${l.clientId} refused: ${r.message} (code ${r.code})`);
  return r.client;
}

/** Publishes at QoS 1 and reports whether the broker acknowledged it (true) or closed the connection instead (false). */
export function publishAccepted(c: MqttClient, topic: string, payload: Buffer | string, opts: { retain?: boolean } = {}, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    c.once('close', () => (clearTimeout(timer), resolve(false)));
    c.publish(topic, payload, { qos: 1, retain: opts.retain ?? false }, (err) => {
      clearTimeout(timer);
      resolve(err === undefined || err === null ? c.connected : false);
    });
  });
}

/** Subscribes and returns the granted QoS (128 = refused). */
export function subscribeGranted(c: MqttClient, filter: string): Promise<number> {
  return new Promise((resolve, reject) => {
    c.subscribe(filter, { qos: 1 }, (err, granted) => {
      // MQTT.js reports a SUBACK failure (0x80) as an error carrying the packet; `granted` then echoes the request.
      const suback = (err as { packet?: { granted?: number[] } } | null | undefined)?.packet?.granted?.[0];
      if (suback !== undefined) resolve(suback);
      else if (err !== null && err !== undefined) reject(err);
      else resolve(granted?.[0]?.qos ?? 128);
    });
  });
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end (or kills it after `timeoutMs`). */
export function runProgram(cmd: string, args: readonly string[], timeoutMs = 10_000, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `sitekd credentials add …` with a generated password, which it returns (the last line of stdout). */
export async function addWithCli(stateDir: string, args: readonly string[]): Promise<string> {
  const r = await runProgram(process.execPath, [CLI, 'credentials', 'add', '--state-dir', stateDir, ...args]);
  if (r.code !== 0) throw new Error(`sitekd credentials add failed (${r.code}): ${r.stderr}`);
  const lines = r.stdout.trimEnd().split('\n');
  return lines[lines.length - 1] as string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

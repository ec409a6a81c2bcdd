/**
 * The MQTT.js v5 adapter both processes use. What it adds to MQTT.js:
 * - an outbound size check (MQTT.js does not enforce the broker's maximum packet size; an oversize publish makes the
 *   broker drop the connection and the publish never settles — docs/ecosystem.md §0.6);
 * - per-filter handlers whose exceptions are caught and counted: nothing thrown by a handler reaches MQTT.js;
 * - MQTT 5 when the broker offers it, else 3.1.1 (aedes refuses 5): `protocol: 'auto'` tries 5 then 4;
 * - a refused login, or a session the broker closes right after accepting it (another client took the client id, a
 *   refused publish), is reported once per attempt (`onSessionProblem`) and retried with exponential back-off up to a
 *   minute, instead of MQTT.js's fixed reconnect period: a wrong password or a duplicate client id then costs the
 *   broker one attempt a minute, not one a second.
 */
import type { PeerCertificate } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ErrorCode, SitekdError } from '../errors';
import { topicMatches } from './topic-match';

export interface TransportOptions {
  readonly url: string;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  /** PEM strings for TLS (mqtts://). */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized?: boolean;
  /** Replaces the host name check of TLS (the hub pins its own embedded broker's certificate). */
  readonly checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
  readonly protocol?: 'auto' | 5 | 4;
  readonly will?: { topic: string; payload: Uint8Array; qos: 0 | 1; retain: boolean };
  /** Our own cap on outbound packets when the broker does not announce one (bytes). */
  readonly maxPacketBytes?: number;
  readonly reconnectPeriodMs?: number;
  readonly connectTimeoutMs?: number;
  readonly keepaliveS?: number;
}

export type MessageHandler = (topic: string, payload: Buffer) => void | Promise<void>;

export interface TransportStats {
  publishedMessages: number;
  publishedBytes: number;
  receivedMessages: number;
  handlerErrors: number;
  oversizeRejected: number;
}

const DEFAULT_MAX_PACKET = 256 * 1024;

/** A login the broker refused, or a session it closed soon after accepting it. */
export interface SessionProblem {
  readonly kind: 'refused' | 'closed';
  /** CONNACK return code (3.1.1) or reason code (5), when refused. */
  readonly code?: number;
  readonly reason: string;
  readonly clientId: string;
  readonly retryInMs: number;
}

/** CONNACK codes that no retry with the same credentials fixes: 3.1.1 §3.2.2.3 (2, 4, 5) and MQTT 5 (0x85-0x8C). */
const REFUSAL_CODES: ReadonlySet<number> = new Set([2, 4, 5, 0x85, 0x86, 0x87, 0x8a, 0x8c]);
/** A session shorter than this counts as closed by the broker right after it accepted it. */
const SHORT_SESSION_MS = 10_000;
const MAX_BACKOFF_MS = 60_000;

export class MqttTransport {
  readonly stats: TransportStats = { publishedMessages: 0, publishedBytes: 0, receivedMessages: 0, handlerErrors: 0, oversizeRejected: 0 };
  private readonly subs: { filter: string; handler: MessageHandler }[] = [];
  private onHandlerError: (err: unknown, topic: string) => void = () => undefined;
  private readonly problemListeners: ((p: SessionProblem) => void)[] = [];
  private connectedAt: number | undefined;
  private closing = false;

  private readonly client: MqttClient;

  private constructor(private readonly opts: TransportOptions) {
    const first: 4 | 5 = opts.protocol === 4 ? 4 : 5;
    this.client = connectOrExplain(opts.url, clientOptions(opts, first));
    this.client.on('message', (topic, payload) => this.dispatch(topic, payload));
    // MQTT.js leaves Nagle's algorithm on: a small publish right after another waits for TCP's delayed ACK (40+ ms).
    this.client.on('connect', () => (this.client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true));
    this.client.on('error', (err: Error & { code?: number }) => {
      // aedes (MQTT 3.1.1 only) answers an MQTT 5 CONNECT with "unacceptable protocol version" (return code 1):
      // with protocol 'auto', reconnect speaking 3.1.1.
      if ((opts.protocol ?? 'auto') === 'auto' && this.client.options.protocolVersion === 5 && (err.code === 1 || /protocol/i.test(err.message))) {
        Object.assign(this.client.options, clientOptions(opts, 4));
        delete this.client.options.properties;
      }
      this.lastError = err;
      if (typeof err.code === 'number' && REFUSAL_CODES.has(err.code)) this.backOff('refused', err.message, err.code);
    });
    this.client.on('connect', () => (this.connectedAt = Date.now()));
    this.client.on('close', () => {
      const lasted = this.connectedAt === undefined ? undefined : Date.now() - this.connectedAt;
      this.connectedAt = undefined;
      if (this.closing || lasted === undefined) return;
      if (lasted < SHORT_SESSION_MS) this.backOff('closed', `the broker closed the session ${lasted} ms after accepting it (is another client using the client id ${opts.clientId}?)`);
      else this.client.options.reconnectPeriod = opts.reconnectPeriodMs ?? 1000;
    });
  }

  /** Called for every refused login and every session closed right after it began (log it: the broker will not). */
  onSessionProblem(fn: (p: SessionProblem) => void): void {
    this.problemListeners.push(fn);
  }

  private backOff(kind: SessionProblem['kind'], reason: string, code?: number): void {
    const base = this.opts.reconnectPeriodMs ?? 1000;
    const next = Math.min(MAX_BACKOFF_MS, Math.max(base, 2 * (this.client.options.reconnectPeriod ?? base)));
    this.client.options.reconnectPeriod = next;
    const p: SessionProblem = { kind, reason, clientId: this.opts.clientId, retryInMs: next, ...(code !== undefined ? { code } : {}) };
    for (const fn of this.problemListeners) {
      try {
        fn(p);
      } catch {
        // A failing listener must not stop the reconnect logic.
      }
    }
  }

  /** The last connection-level error MQTT.js reported (it keeps reconnecting by itself). */
  lastError: Error | undefined;

  /** Starts connecting and returns at once; MQTT.js reconnects on its own after broker outages. */
  static create(opts: TransportOptions): MqttTransport {
    return new MqttTransport(opts);
  }

  /** create() + wait for the first CONNACK; fails with a coded error after `timeoutMs`. */
  static async connect(opts: TransportOptions, timeoutMs = 10_000): Promise<MqttTransport> {
    const t = new MqttTransport(opts);
    try {
      await t.waitConnected(timeoutMs);
    } catch (err) {
      await t.close(true);
      throw err;
    }
    return t;
  }

  get protocolVersion(): number {
    return this.client.options.protocolVersion ?? 4;
  }

  /** Resolves at the first CONNACK; rejects with BROKER_REFUSED at once when the broker refuses the login. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('connect', ok);
        reject(new SitekdError(ErrorCode.BROKER_UNREACHABLE, `no connection to ${this.opts.url} within ${timeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`));
      }, timeoutMs);
      const ok = (): void => {
        clearTimeout(timer);
        this.problemListeners.splice(this.problemListeners.indexOf(refused), 1);
        resolve();
      };
      const refused = (p: SessionProblem): void => {
        if (p.kind !== 'refused') return;
        clearTimeout(timer);
        this.client.off('connect', ok);
        this.problemListeners.splice(this.problemListeners.indexOf(refused), 1);
        reject(new SitekdError(ErrorCode.BROKER_REFUSED, `${this.opts.url} refused the login of client ${p.clientId}${this.opts.username !== undefined ? ` (user ${this.opts.username})` : ' (no user name)'}: ${p.reason}`, { details: { code: p.code } }));
      };
      this.client.once('connect', ok);
      this.problemListeners.push(refused);
    });
  }

  /** Called for every exception a handler throws (the transport counts it and carries on). */
  setHandlerErrorListener(fn: (err: unknown, topic: string) => void): void {
    this.onHandlerError = fn;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** The broker's announced limit (MQTT 5 CONNACK), else our configured cap. */
  get maxPacketBytes(): number {
    const server = this.client.serverProperties?.maximumPacketSize;
    return Math.min(server ?? Infinity, this.opts.maxPacketBytes ?? DEFAULT_MAX_PACKET);
  }

  on(event: 'connect' | 'close' | 'offline' | 'reconnect', fn: () => void): void {
    this.client.on(event, fn);
  }

  async publish(topic: string, payload: Uint8Array, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    // Fixed header ≤ 5 bytes, topic length prefix 2 bytes, packet id 2 bytes, MQTT 5 properties: keep 64 bytes spare.
    const size = payload.length + Buffer.byteLength(topic) + 64;
    if (size > this.maxPacketBytes) {
      this.stats.oversizeRejected++;
      throw new SitekdError(ErrorCode.PAYLOAD_TOO_LARGE, `publish to ${topic} is ${size} bytes, over the ${this.maxPacketBytes}-byte packet limit`);
    }
    await this.client.publishAsync(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: opts.qos ?? 0, retain: opts.retain ?? false });
    this.stats.publishedMessages++;
    this.stats.publishedBytes += payload.length;
  }

  async subscribe(filter: string, handler: MessageHandler, qos: 0 | 1 = 1): Promise<void> {
    this.subs.push({ filter, handler });
    await this.client.subscribeAsync(filter, { qos });
  }

  async unsubscribe(filter: string): Promise<void> {
    for (let i = this.subs.length - 1; i >= 0; i--) if (this.subs[i]?.filter === filter) this.subs.splice(i, 1);
    await this.client.unsubscribeAsync(filter);
  }

  async close(force = false): Promise<void> {
    this.closing = true;
    await this.client.endAsync(force);
  }

  private dispatch(topic: string, payload: Buffer): void {
    this.stats.receivedMessages++;
    for (const s of this.subs) {
      if (!topicMatches(s.filter, topic)) continue;
      try {
        const r = s.handler(topic, payload);
        if (r instanceof Promise) r.catch((err: unknown) => this.handlerFailed(err, topic));
      } catch (err) {
        this.handlerFailed(err, topic);
      }
    }
  }

  private handlerFailed(err: unknown, topic: string): void {
    this.stats.handlerErrors++;
    try {
      this.onHandlerError(err, topic);
    } catch {
      // A failing error listener must not take the message loop down either.
    }
  }
}

function clientOptions(o: TransportOptions, protocolVersion: 4 | 5): IClientOptions {
  return {
    clientId: o.clientId,
    protocolVersion,
    clean: true,
    reconnectPeriod: o.reconnectPeriodMs ?? 1000,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    keepalive: o.keepaliveS ?? 30,
    resubscribe: true,
    reconnectOnConnackError: true,
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.cert !== undefined ? { cert: o.cert } : {}),
    ...(o.key !== undefined ? { key: o.key } : {}),
    ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
    ...(o.checkServerIdentity !== undefined ? ({ checkServerIdentity: o.checkServerIdentity } as IClientOptions) : {}),
    ...(o.will ? { will: { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos, retain: o.will.retain } } : {}),
    ...(protocolVersion === 5 ? { properties: { maximumPacketSize: o.maxPacketBytes ?? DEFAULT_MAX_PACKET } } : {}),
  };
}

/**
 * mqtt.connect throws synchronously on a URL it cannot use (a port over 65535, an unknown protocol): a setup mistake,
 * so a coded CONFIG_INVALID that names the URL instead of a stack trace from inside MQTT.js.
 */
function connectOrExplain(url: string, options: IClientOptions): MqttClient {
  try {
    return mqtt.connect(url, options);
  } catch (err) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot use the broker URL ${url}: ${(err as Error).message}`, { cause: err, details: { url } });
  }
}

/**
 * The hub's broker connection: the embedded aedes broker unless `broker` names an external one, then the hub's own
 * MqttTransport with its retained last will (`hub/status` = offline). With the embedded broker and authentication on
 * (the default), the hub logs in as its own identity (hub/auth/hub-identity.ts), made at first start.
 */
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { encode } from '../../shared/protocol/codec';
import type { HubStatus } from '../../shared/protocol/messages';
import { hubMemberStatusTopic, hubStatusTopic } from '../../shared/protocol/topics';
import { systemClock, type Clock } from '../../shared/clock';
import { logConnectionEvents } from '../../shared/transport/connection-log';
import { MqttTransport, type TransportOptions } from '../../shared/transport/mqtt-transport';
import { credentialsPath } from '../auth/credentials-file';
import { ensureHubIdentity } from '../auth/hub-identity';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker';
import type { HubConfig } from '../config';
import type { Logger } from '../../shared/log';

export interface HubConnection {
  readonly broker: EmbeddedBroker | undefined;
  readonly url: string;
  readonly transport: MqttTransport;
}

type Login = Pick<TransportOptions, 'username' | 'password' | 'ca' | 'cert' | 'key' | 'checkServerIdentity'>;

export async function connectHub(
  c: HubConfig,
  log: Logger,
  hooks: { onListening?: (port: number, url: string) => void; onBroker?: (b: EmbeddedBroker) => void; clock?: Clock } = {},
): Promise<HubConnection> {
  let broker: EmbeddedBroker | undefined;
  let login: Login = externalLogin(c);
  if (c.broker === undefined) {
    const started = await startBroker(c, log);
    broker = started.broker;
    login = started.login;
    hooks.onBroker?.(broker);
  }
  const local = c.mqttHost === '0.0.0.0' ? '127.0.0.1' : c.mqttHost;
  const url = c.broker ?? `${c.tlsCert !== undefined ? 'mqtts' : 'mqtt'}://${local}:${broker?.port ?? c.mqttPort}`;
  if (broker !== undefined) hooks.onListening?.(broker.port, url);
  const offline: HubStatus = { state: 'offline' };
  const transport = MqttTransport.create(
    {
      // aedes speaks 3.1.1 only: asking it for MQTT 5 first would cost a refused CONNECT and a reconnect period.
      url, clientId: c.clientId, protocol: broker !== undefined ? 4 : 'auto', maxPacketBytes: c.maxPacketBytes, ...login,
      // One of several hubs: its own retained status is its presence, and the will ends it (hub/shard/shard.ts).
      will: { topic: c.hubId === undefined ? hubStatusTopic() : hubMemberStatusTopic(c.hubId), payload: encode(offline), qos: 1, retain: true },
    },
  );
  transport.onSessionProblem((p) => log.error('the broker refused or closed the hub\'s session', { ...p }));
  // Failed attempts while waiting are logged too: an unreachable broker is visible before the timeout ends the start.
  logConnectionEvents(transport, { log, clock: hooks.clock ?? systemClock, url });
  await transport.waitConnected(15_000).catch(async (err: unknown) => {
    await transport.close(true).catch(() => undefined);
    throw err;
  });
  log.info('connected to the broker', { url, protocolVersion: transport.protocolVersion });
  return { broker, url, transport };
}

function externalLogin(c: HubConfig): Login {
  return {
    ...(c.username !== undefined ? { username: c.username } : {}), ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.ca !== undefined ? { ca: readPem(c.ca) } : {}), ...(c.cert !== undefined ? { cert: readPem(c.cert) } : {}),
    ...(c.key !== undefined ? { key: readPem(c.key) } : {}),
  };
}

async function startBroker(c: HubConfig, log: Logger): Promise<{ broker: EmbeddedBroker; login: Login }> {
  const tls = c.tlsCert !== undefined && c.tlsKey !== undefined ? { cert: readPem(c.tlsCert), key: readPem(c.tlsKey) } : undefined;
  const identity = c.allowAnonymous ? undefined : await ensureHubIdentity(c.stateDir, c.clientId, Date.now());
  if (identity?.created === true) log.info('created the hub\'s broker identity', { user: identity.user, credentials: credentialsPath(c.stateDir) });
  const broker = await startEmbeddedBroker({
    port: c.mqttPort, host: c.mqttHost, log, ...(tls !== undefined ? { tls } : {}),
    security: identity === undefined ? 'anonymous' : { credentialsFile: credentialsPath(c.stateDir), hubUser: identity.user },
    limits: {
      maxPacketBytes: c.brokerMaxPacketBytes, maxConnections: c.maxConnections, maxRetainedBytes: c.maxRetainedBytes,
      maxRetainedBytesPerClient: c.maxRetainedBytesPerClient, maxSubscriptionsPerClient: c.maxSubscriptionsPerClient,
    },
  }).catch((cause: unknown) => {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot listen on ${c.mqttHost}:${c.mqttPort}: ${(cause as Error).message}`, { cause });
  });
  if (identity === undefined) {
    log.warn('THE EMBEDDED MQTT BROKER IS OPEN (--allow-anonymous): anyone who can reach it may read every topic, publish samples, send commands and replace models', { host: c.mqttHost, port: broker.port });
  } else {
    log.info('embedded MQTT broker requires credentials', { credentials: credentialsPath(c.stateDir) });
  }
  log.info('embedded MQTT broker listening', { host: c.mqttHost, port: broker.port, tls: tls !== undefined });
  const login: Login = {
    ...(identity !== undefined ? { username: identity.user, password: identity.password } : {}),
    ...(tls !== undefined ? pinnedTls(tls.cert, c.ca !== undefined ? readPem(c.ca) : tls.cert) : {}),
  };
  return { broker, login };
}

/**
 * The hub reaches its own TLS listener on a loopback address its certificate need not name: it checks that the peer
 * presents exactly the certificate it serves (fingerprint), after the usual chain check against `ca` (the certificate
 * itself when self-signed, else `--ca`).
 */
function pinnedTls(certPem: string, ca: string): Login {
  const fingerprint = new X509Certificate(certPem).fingerprint256;
  return {
    ca,
    checkServerIdentity: (_host, peer) => (peer.fingerprint256 === fingerprint ? undefined : new Error('the embedded broker presented another certificate')),
  };
}

function readPem(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read TLS file ${file}`, { cause, details: { file } });
  }
}

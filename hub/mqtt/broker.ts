/**
 * The zero-install default broker: aedes in the hub's process (MQTT 3.1.1; aedes refuses MQTT 5). Production sites can
 * point hub and agents at Mosquitto/EMQX instead (`--broker URL`); nothing else changes.
 *
 * Secure by default (issue 8): clients log in with identities from the hub's credentials store and are confined by
 * hub/auth/policy.ts (hub/mqtt/broker-auth.ts); `anonymous` keeps the open broker of old for demos and tests. Packet
 * size, sessions, subscriptions and retained bytes are limited either way, and `tls` serves mqtts:// instead of mqtt://.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from '../../shared/log';
import { BrokerAuth, type AedesClient } from './broker-auth';
import { DEFAULT_BROKER_LIMITS, type BrokerLimits } from './broker-limits';
import { guardedConnection, PacketTooLargeError } from './packet-guard';

export interface EmbeddedBroker {
  readonly port: number;
  readonly url: string;
  readonly auth: BrokerAuth;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  readonly port: number;
  readonly host?: string;
  /** The credentials store, or 'anonymous' for an open broker (say so loudly: the caller logs it). */
  readonly security: { readonly credentialsFile: string; readonly hubUser?: string } | 'anonymous';
  readonly limits?: Partial<BrokerLimits>;
  /** PEM certificate chain and key: the listener speaks TLS (mqtts://). */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly log?: Logger;
}

interface AedesLike {
  handle: (stream: import('node:stream').Duplex) => void;
  close(cb?: () => void): void;
  readonly connectedClients: number;
  on(event: 'clientDisconnect', fn: (c: AedesClient) => void): void;
  on(event: 'unsubscribe', fn: (filters: string[], c: AedesClient) => void): void;
}

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

/** Starts aedes on `host:port` (port 0 = any free port). */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const log = opts.log ?? silent;
  const limits: BrokerLimits = { ...DEFAULT_BROKER_LIMITS, ...opts.limits };
  const sec = opts.security;
  const auth = new BrokerAuth({
    credentialsFile: sec === 'anonymous' ? undefined : sec.credentialsFile, limits, log, ...(sec !== 'anonymous' && sec.hubUser !== undefined ? { hubUser: sec.hubUser } : {}),
  });
  // aedes 1.x is an ES module; Node 20.19+ can require() it, which keeps this file CommonJS.
  const { Aedes } = require('aedes') as { Aedes: { createBroker(o?: object): Promise<AedesLike> } };
  let broker: AedesLike | undefined;
  // A client that opens a socket and never sends CONNECT holds a connection slot: 10 s instead of aedes' 30 s.
  broker = await Aedes.createBroker({ connectTimeout: 10_000, ...auth.hooks(() => broker?.connectedClients ?? 0) });
  const b = broker;
  b.on('clientDisconnect', (c) => auth.clientGone(c));
  b.on('unsubscribe', (filters, c) => auth.unsubscribed(c, filters));
  const reload = setInterval(() => auth.refresh(), 2000);
  reload.unref();
  const onSocket = (socket: Socket): void => {
    // Nagle off: a PUBACK followed by a PUBLISH to the same client otherwise waits for that client's delayed ACK
    // (~40 ms on Linux), e.g. every command reply and sample ack to a client that has just published.
    socket.setNoDelay(true);
    b.handle(guardedConnection(socket, limits.maxPacketBytes, (err) => {
      if (err instanceof PacketTooLargeError) log.warn('closed a connection that sent a packet over the limit', { size: err.size, limit: err.limit, remote: socket.remoteAddress });
    }));
  };
  const server: Server = opts.tls !== undefined ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, onSocket) : createServer(onSocket);
  // TCP connections beyond the session limit (plus room for ones that are about to be refused) are not accepted at all.
  server.maxConnections = limits.maxConnections + 64;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  }).catch((err: unknown) => {
    clearInterval(reload);
    b.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${opts.tls !== undefined ? 'mqtts' : 'mqtt'}://${host}:${port}`,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(reload);
        b.close(() => server.close(() => resolve()));
        // Open client sockets keep server.close() waiting; aedes closes its clients, this is the backstop.
        setTimeout(resolve, 2000).unref();
      }),
  };
}

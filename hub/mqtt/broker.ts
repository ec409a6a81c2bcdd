/**
 * The zero-install default broker: aedes in the hub's process (MQTT 3.1.1; aedes refuses MQTT 5). Production sites can
 * point hub and agents at Mosquitto/EMQX instead (`--broker URL`); nothing else changes.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface EmbeddedBroker {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

interface AedesLike {
  handle: (stream: import('node:net').Socket) => void;
  close(cb?: () => void): void;
}

/** Starts aedes on `host:port` (port 0 = any free port). */
export async function startEmbeddedBroker(opts: { port: number; host?: string }): Promise<EmbeddedBroker> {
  // aedes 1.x is an ES module; Node 20.19+ can require() it, which keeps this file CommonJS.
  const { Aedes } = require('aedes') as { Aedes: { createBroker(o?: object): Promise<AedesLike> } };
  const broker = await Aedes.createBroker();
  // Nagle off: a PUBACK followed by a PUBLISH to the same client otherwise waits for that client's delayed ACK
  // (~40 ms on Linux), e.g. every command reply and sample ack to a client that has just published.
  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `mqtt://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()));
        // Open client sockets keep server.close() waiting; aedes closes its clients, this is the backstop.
        setTimeout(resolve, 2000).unref();
      }),
  };
}

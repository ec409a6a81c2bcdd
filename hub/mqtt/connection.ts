/**
 * The hub's broker connection: the embedded aedes broker unless `broker` names an external one, then the hub's own
 * MqttTransport with its retained last will (`hub/status` = offline).
 */
import * as fs from 'node:fs';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { encode } from '../../shared/protocol/codec';
import type { HubStatus } from '../../shared/protocol/messages';
import { hubStatusTopic } from '../../shared/protocol/topics';
import { systemClock, type Clock } from '../../shared/clock';
import { logConnectionEvents } from '../../shared/transport/connection-log';
import { MqttTransport } from '../../shared/transport/mqtt-transport';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker';
import type { HubConfig } from '../config';
import type { Logger } from '../../shared/log';

export interface HubConnection {
  readonly broker: EmbeddedBroker | undefined;
  readonly url: string;
  readonly transport: MqttTransport;
}

export async function connectHub(
  c: HubConfig,
  log: Logger,
  hooks: { onListening?: (port: number, url: string) => void; onBroker?: (b: EmbeddedBroker) => void; clock?: Clock } = {},
): Promise<HubConnection> {
  let broker: EmbeddedBroker | undefined;
  if (c.broker === undefined) {
    broker = await startEmbeddedBroker({ port: c.mqttPort, host: c.mqttHost }).catch((cause: unknown) => {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot listen on ${c.mqttHost}:${c.mqttPort}: ${(cause as Error).message}`, { cause });
    });
    hooks.onBroker?.(broker);
    log.info('embedded MQTT broker listening', { host: c.mqttHost, port: broker.port });
  }
  const url = c.broker ?? `mqtt://${c.mqttHost === '0.0.0.0' ? '127.0.0.1' : c.mqttHost}:${broker?.port ?? c.mqttPort}`;
  if (broker !== undefined) hooks.onListening?.(broker.port, url);
  const offline: HubStatus = { state: 'offline' };
  const transport = MqttTransport.create(
    {
      // aedes speaks 3.1.1 only: asking it for MQTT 5 first would cost a refused CONNECT and a reconnect period.
      url, clientId: c.clientId, protocol: broker !== undefined ? 4 : 'auto', maxPacketBytes: c.maxPacketBytes,
      ...(c.username !== undefined ? { username: c.username } : {}), ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.ca !== undefined ? { ca: readPem(c.ca) } : {}), ...(c.cert !== undefined ? { cert: readPem(c.cert) } : {}),
      ...(c.key !== undefined ? { key: readPem(c.key) } : {}),
      will: { topic: hubStatusTopic(), payload: encode(offline), qos: 1, retain: true },
    },
  );
  // Failed attempts while waiting are logged too: an unreachable broker is visible before the timeout ends the start.
  logConnectionEvents(transport, { log, clock: hooks.clock ?? systemClock, url });
  await transport.waitConnected(15_000).catch(async (err: unknown) => {
    await transport.close(true).catch(() => undefined);
    throw err;
  });
  log.info('connected to the broker', { url, protocolVersion: transport.protocolVersion });
  return { broker, url, transport };
}

function readPem(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read TLS file ${file}`, { cause, details: { file } });
  }
}

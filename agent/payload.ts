/**
 * Outbound encoding of the agent's own messages. Status, predictions and telemetry follow `payloadFormat`: msgpack
 * (the protocol default) or JSON, which every sitekd receiver also accepts and which `mosquitto_sub` prints as text
 * (issue 3: "plain third-party clients work"). Sample batches carry binary fields and are always msgpack.
 */
import { encode, encodeJson } from '../shared/protocol/codec';

export type PayloadFormat = 'msgpack' | 'json';

export function encodePayload(format: PayloadFormat, value: unknown): Uint8Array {
  return format === 'json' ? encodeJson(value) : encode(value);
}

/**
 * What every process (hub, agent, sim) logs about its broker connection, so that an agent that cannot reach its broker,
 * or a hub whose broker went away, says so instead of going quiet (issue 8: nothing lost silently).
 *
 * MQTT.js reconnects by itself and emits `close` after every failed attempt as well as after losing a live connection
 * (and `error` before it, which MqttTransport keeps as `lastError`). From those:
 * - a live connection lost → one warning `broker connection lost`;
 * - attempts failing (never connected yet, or since a loss) → `broker unreachable` at the first failure, then at most
 *   once per `warnIntervalMs` with the number of attempts so far and the last error: a broker down for a day costs a
 *   few lines an hour, not one a second;
 * - connected again after a loss or failed attempts → `broker reconnected`, with how long it was down.
 * The first successful connection is left to the process's own start-up log.
 */
import type { Clock } from '../clock';
import type { Logger } from '../log';

export interface ConnectionEvents {
  on(event: 'connect' | 'close', fn: () => void): void;
  readonly lastError: Error | undefined;
  /** Whether it is connected already (a transport may be handed over after its first connection). */
  readonly connected: boolean;
}

export interface ConnectionLogOptions {
  readonly log: Logger;
  readonly clock: Pick<Clock, 'monotonicMs'>;
  /** The broker URL, for the log lines (a user:password part is masked). */
  readonly url: string;
  /** Between two `broker unreachable` warnings of one outage. Default 30 s. */
  readonly warnIntervalMs?: number;
}

/** Starts logging the transport's connection events. */
export function logConnectionEvents(t: ConnectionEvents, o: ConnectionLogOptions): void {
  const interval = o.warnIntervalMs ?? 30_000;
  const url = o.url.replace(/\/\/[^/@]*@/, '//***@');
  let connected = t.connected;
  let everConnected = t.connected;
  let downSince: number | undefined;
  let failedAttempts = 0;
  let lastWarnAt = -Infinity;
  t.on('connect', () => {
    if (downSince !== undefined && (everConnected || failedAttempts > 0)) {
      o.log.info('broker reconnected', { url, downSeconds: round((o.clock.monotonicMs() - downSince) / 1000), failedAttempts });
    }
    connected = true;
    everConnected = true;
    downSince = undefined;
    failedAttempts = 0;
    lastWarnAt = -Infinity;
  });
  t.on('close', () => {
    const now = o.clock.monotonicMs();
    if (connected) {
      connected = false;
      downSince = now;
      o.log.warn('broker connection lost', { url, ...errorField(t.lastError) });
      return;
    }
    downSince ??= now;
    failedAttempts++;
    if (now - lastWarnAt < interval) return;
    lastWarnAt = now;
    o.log.warn('broker unreachable', {
      url, failedAttempts, downSeconds: round((now - downSince) / 1000), everConnected, ...errorField(t.lastError),
    });
  });
}

function errorField(err: Error | undefined): { error?: string } {
  return err === undefined ? {} : { error: err.message.slice(0, 300) };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * `sitekd agent`: the agent process's composition root (docs/conventions.md §6.1) — the only agent file that creates
 * I/O objects (MQTT client, model store, outbox, logger, clock) and touches the process (signals).
 *
 *   sitekd agent --site S --id A --broker URL --sensor-topic T [--hub-key FILE] [--model FILE] [--data-dir DIR] …
 *   sitekd agent --config agent.json [flags that override it]
 *
 * Exit status: 0 after SIGINT/SIGTERM (graceful stop: `offline` status published, outbox on disk), 78 (EX_CONFIG)
 * for an invalid configuration (systemd: `RestartPreventExitStatus=78`), 64 for unusable command-line flags, 1 for
 * any other fatal error.
 */
import * as fs from 'node:fs';
import { createPublicKey } from 'node:crypto';
import * as path from 'node:path';
import { ErrorCode, isSitekdError, SitekdError } from '../shared/errors';
import { acquireStateLock, type StateLock } from '../shared/fs/state-lock';
import { selectBackend } from '../shared/ml/backend';
import { tf } from '../shared/ml/tf';
import { keyIdOf } from '../shared/protocol/signing';
import { logConnectionEvents } from '../shared/transport/connection-log';
import { MqttTransport } from '../shared/transport/mqtt-transport';
import { Agent, lastWill } from './agent';
import { agentSpec, flagHint, flagsToConfig } from './cli';
import { systemClock, type Clock } from '../shared/clock';
import { defineCommand, type Command } from '../shared/cli/command';
import { listHubKeys, loadAgentConfig, redactedConfig, type AgentConfig } from './config';
import { silentLogger, type Logger } from '../shared/log';
import { sitekdVersion } from '../shared/version';
import { ModelStore } from './model-store';
import { Outbox } from './outbox';

/** Exit status for an invalid configuration (sysexits.h EX_CONFIG). */
export const EXIT_CONFIG = 78;

export type { CommandIo } from '../shared/cli/command';
export type AgentCommand = Command;

export interface StartOptions {
  readonly log?: Logger;
  readonly clock?: Clock;
  readonly readText?: (p: string) => string;
}

/** A started agent and what it owns. */
export interface RunningAgent {
  readonly agent: Agent;
  readonly transport: MqttTransport;
  readonly config: AgentConfig;
  /** Graceful stop, then the MQTT client is closed. */
  stop(): Promise<void>;
}

const readUtf8 = (p: string): string => fs.readFileSync(p, 'utf8');

/** Builds every I/O object for `config` and starts the agent; returns without waiting for the broker. */
export async function startAgent(config: AgentConfig, opts: StartOptions = {}): Promise<RunningAgent> {
  const log = opts.log ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const readText = opts.readText ?? readUtf8;
  const trustedKeys = checkHubKeys(listHubKeys(config, readText));
  if (trustedKeys.length === 0) log.warn('no hub public key configured: every model manifest will be refused');
  const backend = await selectBackend(config.backend);
  // Before the stores open: a second agent on this data directory refuses here (STATE_LOCKED).
  const lock = acquireStateLock(path.resolve(config.dataDir), {
    what: 'agent', onStale: (p) => log.warn('stale data-directory lock taken over', { dir: config.dataDir, ...p }),
  });
  try {
    return await startWithLock(config, { log, clock, readText, trustedKeys, backend: backend.name }, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

interface Started {
  readonly log: Logger;
  readonly clock: Clock;
  readonly readText: (p: string) => string;
  readonly trustedKeys: string[];
  readonly backend: string;
}

async function startWithLock(config: AgentConfig, s: Started, lock: StateLock): Promise<RunningAgent> {
  const { log, clock, readText, trustedKeys } = s;
  const { store, outbox } = await openStores(config, clock, log);
  const initialModel = store.active === null && config.modelFile !== undefined ? { bytes: readModelFile(config.modelFile), path: config.modelFile } : undefined;
  const transport = createTransport(config, readText);
  logConnectionEvents(transport, { log, clock, url: config.broker.url });
  transport.setHandlerErrorListener((err, topic) => log.error('message handler failed', { topic, err }));
  transport.onSessionProblem((p) => log.error('the broker refused or closed the agent\'s session', { ...p }));
  let agent: Agent;
  try {
    agent = new Agent({
      config,
      transport,
      store,
      outbox,
      clock,
      log,
      trustedKeys,
      backend: s.backend,
      agentVersion: sitekdVersion(),
      tfMemory: () => tf.memory(),
      rssBytes: () => process.memoryUsage.rss(),
      initialModel,
      seed: config.seed ?? (Math.random() * 2 ** 32) >>> 0,
    });
    await agent.start();
  } catch (err) {
    // A client left reconnecting would keep the process alive after a CONFIG_INVALID exit.
    await transport.close(true).catch(() => undefined);
    throw err;
  }
  return {
    agent,
    transport,
    config,
    async stop() {
      await agent.stop();
      await transport.close().catch(() => undefined);
      lock.release();
    },
  };
}

export const agentCommand: AgentCommand = defineCommand(agentSpec, async (flags, { io, logger }) => {
  let running: RunningAgent;
  let log: Logger = silentLogger;
  try {
    const config = loadAgentConfig({ file: flags.config, overrides: flagsToConfig(flags, io.env), readText: readUtf8 });
    // The level may come from the config file, so this logger is made once the config is known.
    log = logger({ level: config.logLevel, bindings: { site: config.site, agent: config.id } });
    log.info('starting agent', { config: redactedConfig(config) });
    running = await startAgent(config, { log });
  } catch (err) {
    if (isSitekdError(err, ErrorCode.CONFIG_INVALID)) {
      const issues = (err.details as { issues?: Array<{ path: string }> } | undefined)?.issues ?? [];
      io.stderr.write(`sitekd: ${err.code}: ${err.message}${flagHint(issues)}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info('stopping', { signal });
  await running.stop();
  return 0;
});

/** The model store and the outbox under `config.dataDir`. */
async function openStores(config: AgentConfig, clock: Clock, log: Logger): Promise<{ store: ModelStore; outbox: Outbox }> {
  const dataDir = path.resolve(config.dataDir);
  const store = await ModelStore.open({ dir: path.join(dataDir, 'models'), now: () => clock.now(), log });
  const outbox = await Outbox.open({
    dir: path.join(dataDir, 'outbox'),
    maxBytes: config.outboxMaxBytes,
    now: () => clock.now(),
    ...(config.outboxMaxAgeMs !== undefined ? { maxAgeMs: config.outboxMaxAgeMs } : {}),
    onQuarantine: (file, error) => log.warn('outbox record quarantined', { file, code: error.code }),
    // At most one batch per upload interval can go this way, so one line each stays readable.
    onDrop: (e, c) => log.warn('outbox full: oldest sample batch dropped unsent', { batchId: e.id, bytes: e.size, droppedRecords: c.droppedRecords, droppedBytes: c.droppedBytes }),
  });
  return { store, outbox };
}

/** The MQTT client, not connected yet; TLS files are read now, so a missing one is a CONFIG_INVALID at start. */
function createTransport(config: AgentConfig, readText: (p: string) => string): MqttTransport {
  const b = config.broker;
  const tls = (file: string | undefined, what: string): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readText(file);
    } catch (cause) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read the TLS ${what} ${file}`, { cause, details: { path: file } });
    }
  };
  const ca = tls(b.caFile, 'CA certificate');
  const cert = tls(b.certFile, 'certificate');
  const key = tls(b.keyFile, 'key');
  return MqttTransport.create({
    url: b.url,
    clientId: b.clientId,
    ...(b.username !== undefined ? { username: b.username } : {}),
    ...(b.password !== undefined ? { password: b.password } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    rejectUnauthorized: b.rejectUnauthorized,
    protocol: b.protocol,
    will: lastWill(config),
    maxPacketBytes: b.maxPacketBytes,
    reconnectPeriodMs: b.reconnectPeriodMs,
    keepaliveS: b.keepaliveS,
  });
}

/** Ed25519 public keys only; anything else is a configuration mistake found at start, not at the first manifest. */
function checkHubKeys(pems: readonly string[]): string[] {
  return pems.map((pem, i) => {
    try {
      const key = createPublicKey(pem);
      if (key.type !== 'public') throw new Error('not a public key');
      keyIdOf(key);
      return pem;
    } catch (cause) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `hub public key #${i + 1} is not an Ed25519 public key PEM`, { cause });
    }
  });
}

function readModelFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (cause) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `cannot read the model file ${file}`, { cause, details: { path: file } });
  }
}

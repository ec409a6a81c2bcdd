/**
 * Options several commands share, declared once and spread into each command's options. This module loads neither
 * tfjs nor MQTT: `sitekd <command> --help` imports it.
 */
import { LOG_LEVELS, type LogLevel } from '../log';
import { BACKEND_PREFERENCES } from '../ml/backend-names';
import { opt } from './options';

export const backendOptions = {
  backend: opt.choice(BACKEND_PREFERENCES, {
    description: 'tfjs backend; auto tries tensorflow, then wasm, then cpu',
    placeholder: 'name',
    defaultLabel: 'env SITEKD_BACKEND, else auto',
  }),
};

const DATA = 'dataset directory (manifest.json) or a root containing HAR/';

/** A dataset the command cannot do without. */
export const dataOptions = {
  data: opt.string({ description: DATA, placeholder: 'dir', required: true }),
};

/** The source → target pair every scenario command names. */
export const pairOptions = {
  ...dataOptions,
  source: opt.string({ description: 'labelled source domain id', placeholder: 'id', required: true }),
  target: opt.string({ description: 'unlabelled target domain id (the site)', placeholder: 'id', required: true }),
};

/** A dataset that may also come from a config file. */
export const optionalDataOptions = {
  data: opt.string({ description: DATA, placeholder: 'dir' }),
};

/** Commands that fall back to the team's HAR copy, then to synthetic sites. */
export const fallbackDataOptions = {
  data: opt.string({ description: 'HAR dataset directory', placeholder: 'dir', defaultLabel: '../shared/data/HAR when present, else synthetic sites' }),
};

/** An MQTT broker URL as MQTT.js takes it. */
export const BROKER_URL = { pattern: /^(mqtts?|wss?|tcp|ssl):\/\/\S+$/, expects: 'a URL like mqtt://host:1883 or mqtts://host:8883' } as const;

export const mqttLoginOptions = {
  username: opt.string({ description: 'broker user name', placeholder: 'name' }),
  password: opt.string({ description: 'broker password', placeholder: 'secret', defaultLabel: 'env SITEKD_MQTT_PASSWORD' }),
};

export const mqttTlsOptions = {
  ca: opt.string({ description: 'CA certificate PEM for mqtts://', placeholder: 'file' }),
  cert: opt.string({ description: 'client certificate PEM', placeholder: 'file' }),
  key: opt.string({ description: 'client private key PEM', placeholder: 'file' }),
};

/** Every command takes these (shared/cli/command.ts builds its logger from them). */
export const loggingOptions = {
  'log-level': opt.choice(LOG_LEVELS, { description: 'least severe log messages shown', placeholder: 'level', defaultLabel: 'info' }),
  'log-json': opt.flag({ description: 'log JSON lines also on a terminal (elsewhere they are the default)' }),
  verbose: opt.flag({ description: 'same as --log-level debug' }),
};

export interface LoggingArgs {
  readonly 'log-level': LogLevel | undefined;
  readonly 'log-json': boolean;
  readonly verbose: boolean;
}

/** The level the command line asks for, if any (`--log-level` wins over `--verbose`). */
export function logLevelFlag(a: Partial<LoggingArgs>): LogLevel | undefined {
  return a['log-level'] ?? (a.verbose === true ? 'debug' : undefined);
}

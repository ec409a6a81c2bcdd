/** What `sitekd sim` accepts. Light on purpose (no MQTT client, no data readers): `sitekd sim --help` reads only this. */
import type { CommandSpec } from '../shared/cli/command';
import { BROKER_URL, fallbackDataOptions, loggingOptions, mqttLoginOptions } from '../shared/cli/option-groups';
import { opt } from '../shared/cli/options';

export const DEFAULT_SIM_BROKER = 'mqtt://127.0.0.1:1883';

export const simSpec = {
  name: 'sim',
  summary: 'stream live sensor data for N sites over MQTT and score the predictions agents publish',
  options: {
    sites: opt.int({ description: 'number of simulated sites', min: 1, max: 1000, required: true }),
    ...fallbackDataOptions,
    synthetic: opt.flag({ description: 'use synthetic shifted sites even when HAR data exists' }),
    subjects: opt.list({ description: 'HAR subjects in site order', placeholder: 'ids', defaultLabel: 'scenario targets 11,13,16,18,23,…' }),
    split: opt.choice(['test', 'train', 'both'], {
      description: 'windows to stream',
      placeholder: 'split',
      defaultLabel: 'both for --order recorded, test otherwise',
    }),
    order: opt.choice(['recorded', 'file', 'shuffle', 'grouped'], {
      description:
        "recorded: each subject's continuous recordings, rebuilt by chaining its windows on their exact 50 % overlaps, each sample once, " +
        'labelled per sample; file, shuffle (seeded, new each loop) or grouped (by label): windows back to back',
      placeholder: 'order',
      defaultLabel: 'recorded for HAR, file for synthetic',
    }),
    seed: opt.int({ description: 'seed of the shuffled order', min: 0, default: 0 }),
    speed: opt.number({ description: 'simulated seconds per second; 1 = real time, 50 readings/s per site', min: 0.001, max: 100_000, default: 1 }),
    broker: opt.string({ description: 'MQTT broker URL', placeholder: 'url', ...BROKER_URL, default: DEFAULT_SIM_BROKER }),
    ...mqttLoginOptions,
    format: opt.choice(['json', 'csv', 'msgpack'], { description: 'reading payload', placeholder: 'fmt', default: 'json' }),
    'topic-root': opt.string({ description: 'readings go to {root}/{site}/imu, scores to {root}/{site}/score', placeholder: 'root', default: 'sim' }),
    'site-prefix': opt.string({ description: 'site ids are {prefix}1 … {prefix}N', placeholder: 'prefix', allowEmpty: true, default: 'site-' }),
    duration: opt.number({ description: 'stop after this many wall-clock seconds', placeholder: 's', min: 0.001, defaultLabel: 'run until Ctrl-C' }),
    'max-rate': opt.number({ description: 'cap on readings per second over all sites; lowers --speed if needed', placeholder: 'n', min: 1, max: 1_000_000, default: 5000 }),
    'score-interval': opt.number({ description: 'seconds between score publications', placeholder: 's', min: 0, default: 2 }),
    'print-interval': opt.number({ description: 'seconds between status lines; 0 = only at the end', placeholder: 's', min: 0, default: 5 }),
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

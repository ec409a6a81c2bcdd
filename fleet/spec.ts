/** What `sitekd fleet` (`npm start`) accepts. Light on purpose: `sitekd fleet --help` reads only this. */
import type { CommandSpec } from '../shared/cli/command';
import { fallbackDataOptions, loggingOptions } from '../shared/cli/option-groups';
import { opt } from '../shared/cli/options';

export const fleetSpec = {
  name: 'fleet',
  summary: 'the whole loop on one machine: broker + hub + simulated sites + one agent per site',
  options: {
    ...fallbackDataOptions,
    sites: opt.int({ description: 'simulated sites, one agent each', min: 1, max: 20, default: 3 }),
    source: opt.string({ description: 'labelled HAR subjects the teacher learns from, comma-separated', placeholder: 'ids', default: '2,7,12,9,6' }),
    speed: opt.number({ description: 'simulated seconds per wall second', min: 0.1, max: 100, default: 4 }),
    'min-new-windows': opt.int({ description: 'returned windows per site that trigger a redistillation', min: 1, default: 250 }),
    epochs: opt.int({ description: 'training epochs of teacher and students', min: 1, max: 1000, default: 10 }),
    duration: opt.number({ description: 'stop after this many seconds', placeholder: 's', min: 1, defaultLabel: 'until Ctrl-C' }),
    'http-port': opt.int({ description: "the hub's web dashboard and /metrics, on 127.0.0.1", min: 1, max: 65535, defaultLabel: 'a free port' }),
    'state-dir': opt.string({ description: 'where hub and agents keep their state and logs', placeholder: 'dir', defaultLabel: 'a new temp dir, removed at exit' }),
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

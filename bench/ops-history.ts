/**
 * `node dist/bench/ops-history.js`: what the dashboard history (hub/ops/site-history.ts) costs for a day of
 * telemetry (one message per agent every 10 s, the agents' default): µs per telemetry message recorded, the size of
 * one site's `GET /api/history` reply, and of the state file (`ops-history.json`) written every 5 minutes.
 * Prints a markdown table; no broker, no disk (sizes are of the JSON the hub would send and write).
 */
import { SiteHistory } from '../hub/ops/site-history';
import type { Telemetry } from '../shared/protocol/messages';
import { benchArgs } from './timing';

const T0 = 1_800_000_000_000;
const DAY_MINUTES = 1440;
const tel: Telemetry = {
  ts: T0, windowsPerSec: 0.4, readingsPerSec: 50, inferP50Ms: 1, inferP99Ms: 2, outboxDepth: 0, outboxBytes: 0, bytesUploaded: 0, driftScore: 0.01,
  tensors: 1, tfBytes: 1, rssBytes: 1, modelVersion: null, dropped: {}, classCounts: [1, 2, 0, 0, 1, 0], meanConfidence: 0.9,
};

function run(sites: number, agents: number): string {
  const h = new SiteHistory();
  let n = 0;
  const start = process.hrtime.bigint();
  for (let m = 0; m < DAY_MINUTES; m++) {
    for (let s = 0; s < sites; s++) {
      for (let k = 0; k < 6; k++) for (let a = 0; a < agents; a++, n++) h.telemetry(`site-${s}`, `gw-${a}`, tel, T0 + m * 60_000 + k * 10_000);
      h.observe(`site-${s}`, T0 + m * 60_000 + 59_000, m * 100, agents);
    }
  }
  const us = Number(process.hrtime.bigint() - start) / 1000 / n;
  const reply = JSON.stringify(h.get('site-0')).length;
  const file = JSON.stringify(h.toFile()).length;
  return `| ${sites} | ${agents} | ${n} | ${us.toFixed(2)} | ${(reply / 1024).toFixed(0)} KiB | ${(file / 1024 / 1024).toFixed(1)} MiB |`;
}

benchArgs({ options: {} }); // no options: --help, or a usage error for any
const rows = [run(1, 10), run(100, 20)];
console.log(['| sites | agents per site | telemetry messages (24 h) | µs per message | one site\'s /api/history | ops-history.json |', '|---|---|---|---|---|---|', ...rows].join('\n'));

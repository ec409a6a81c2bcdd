/**
 * `sitekd status`, `sitekd models --site S` and `sitekd jobs`: ask a running hub over MQTT (the `status` and `sites`
 * commands, docs/protocol.md "Commands") and print what it knows: sites, agents online/offline with last seen and
 * model version, their latest telemetry (windows/s, inference p99, outbox, drift), jobs, the last round with its gate
 * figures, alerts; a site's model history. `--json` prints the same as one JSON object.
 * Exit status (status): 0 no alert; 2 at least one alert (agent offline or stale, drift, rounds failing), so a cron job
 * or a monitoring check can act on it; 1 no reply, the hub refused, or another error; 64 bad usage.
 */
import { defineCommand, type CommandIo } from '../../shared/cli/command';
import type { Parsed } from '../../shared/cli/options';
import type { Logger } from '../../shared/log';
import { requireSiteId } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import { askEveryHub, mergeSites, readMembers } from './status-merge';
import { commandId, connectHubClient, hubError, sendCommand, type HubClientArgs } from './hub-client';
import { jobsSpec, modelsSpec, statusSpec } from './specs';
import { formatHub, formatModels, formatSite } from './status-format';
import { HubStatusReplySchema, parseReply, SiteDetailsSchema, SitesReplySchema, type HubStatusReply, type SiteDetails } from './status-schema';

/** How long `status` listens for the retained statuses of several hubs (they arrive right after subscribing). */
const MEMBERS_WAIT_MS = 300;

/** Exit status when the hub reports at least one alert. */
export const EXIT_ALERTS = 2;

async function ask(t: MqttTransport, clientId: string, timeoutMs: number, cmd: { cmd: 'status' | 'sites'; site?: string }): Promise<Record<string, unknown>> {
  const reply = await sendCommand(t, { id: commandId(), ...cmd }, clientId, timeoutMs);
  if (!reply.ok) throw hubError(reply);
  return reply.result ?? {};
}

/**
 * The hub's own status and every site's details, as `sitekd status` reads them. With several hubs on the broker
 * (`--hub-id`): every hub's status (`hubs`) and the sites of all of them, each once (hub/cli/status-merge.ts).
 */
export async function fetchStatus(t: MqttTransport, clientId: string, timeoutMs: number): Promise<{ hub: HubStatusReply; hubs: HubStatusReply[]; sites: SiteDetails[] }> {
  const members = await readMembers(t, MEMBERS_WAIT_MS);
  if (members.size > 0) {
    const all = async (cmd: 'status' | 'sites'): Promise<Record<string, unknown>[]> =>
      (await askEveryHub(t, { id: commandId(), cmd }, clientId, members.size, timeoutMs)).map((r) => {
        if (!r.ok) throw hubError(r);
        return r.result ?? {};
      });
    const hubs = (await all('status')).map((r) => parseReply(HubStatusReplySchema, r, 'status')).sort((a, b) => (a.hubId ?? '').localeCompare(b.hubId ?? ''));
    const sites = mergeSites((await all('sites')).map((r) => parseReply(SitesReplySchema, r, 'sites').sites), members);
    return { hub: hubs[0] as HubStatusReply, hubs, sites };
  }
  const hub = parseReply(HubStatusReplySchema, await ask(t, clientId, timeoutMs, { cmd: 'status' }), 'status');
  const { sites } = parseReply(SitesReplySchema, await ask(t, clientId, timeoutMs, { cmd: 'sites' }), 'sites');
  return { hub, hubs: [hub], sites };
}

async function withHub<T>(a: HubClientArgs, io: CommandIo, log: Logger, fn: (t: MqttTransport, clientId: string) => Promise<T>): Promise<T> {
  const { t, clientId } = await connectHubClient(a, io);
  log.debug('connected', { broker: a.broker, clientId });
  try {
    return await fn(t, clientId);
  } finally {
    await t.close().catch(() => undefined);
  }
}

async function runStatus(a: Parsed<typeof statusSpec.options>, io: CommandIo, log: Logger): Promise<number> {
  const { hub, hubs, sites } = await withHub(a, io, log, (t, id) => fetchStatus(t, id, a.timeout * 1000));
  const shown = a.site === undefined ? sites : sites.filter((s) => s.site === requireSiteId(a.site as string));
  const alerts = shown.flatMap((s) => s.alerts);
  if (a.json) {
    io.stdout.write(`${JSON.stringify({ hub, ...(hubs.length > 1 || hub.hubId !== undefined ? { hubs } : {}), sites: shown, alerts })}\n`);
  } else {
    const now = Date.now();
    for (const h of hubs) io.stdout.write(formatHub(h, now));
    for (const s of shown) io.stdout.write(formatSite(s, now));
    if (shown.length === 0) io.stdout.write(a.site === undefined ? 'no sites yet\n' : `the hub does not serve site ${a.site}\n`);
    io.stdout.write(alerts.length === 0 ? 'no alerts\n' : `${alerts.length} alert(s)\n`);
  }
  return alerts.length > 0 ? EXIT_ALERTS : 0;
}

async function runModels(a: Parsed<typeof modelsSpec.options>, io: CommandIo, log: Logger): Promise<number> {
  const site = requireSiteId(a.site);
  const details = await withHub(a, io, log, async (t, id) => parseReply(SiteDetailsSchema, await ask(t, id, a.timeout * 1000, { cmd: 'status', site }), 'status'));
  if (a.json) io.stdout.write(`${JSON.stringify({ site, modelVersion: details.modelVersion, models: details.models, lastRound: details.lastRound })}\n`);
  else io.stdout.write(formatModels(details, Date.now()));
  return 0;
}

async function runJobs(a: Parsed<typeof jobsSpec.options>, io: CommandIo, log: Logger): Promise<number> {
  const { hub, sites } = await withHub(a, io, log, (t, id) => fetchStatus(t, id, a.timeout * 1000));
  const last = sites.filter((s) => s.lastRound !== null).map((s) => ({ site: s.site, ...(s.lastRound as NonNullable<SiteDetails['lastRound']>) }));
  if (a.json) {
    io.stdout.write(`${JSON.stringify({ running: hub.jobs.running, queued: hub.jobs.queued, lastRounds: last })}\n`);
    return 0;
  }
  io.stdout.write(`running: ${hub.jobs.running ?? 'none'}; queued: ${hub.jobs.queued}\n`);
  for (const r of last.sort((x, y) => y.finishedAt - x.finishedAt)) {
    io.stdout.write(`  ${r.site}: ${r.jobId} ${r.outcome}${r.version !== null ? ` ${r.version}` : ''} at ${new Date(r.finishedAt).toISOString()}${r.seconds !== null ? ` (${r.seconds.toFixed(1)} s)` : ''}\n`);
  }
  return 0;
}

export const statusCommand = defineCommand(statusSpec, (a, { io, log }) => runStatus(a, io, log));
export const modelsCommand = defineCommand(modelsSpec, (a, { io, log }) => runModels(a, io, log));
export const jobsCommand = defineCommand(jobsSpec, (a, { io, log }) => runJobs(a, io, log));

/** Text renderings of `sitekd status | models | jobs` for a terminal (their `--json` prints the parsed replies). */
import type { HubStatusReply, SiteDetails } from './status-schema';

const pct = (x: number | null): string => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** `3 s`, `4 min`, `2 h`, `5 d`: how long ago, roughly. */
export function ago(ms: number, now: number): string {
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function formatHub(h: HubStatusReply, now: number): string {
  const jobs = h.jobs.running !== null ? `running ${h.jobs.running}, ${h.jobs.queued} queued` : `none running, ${h.jobs.queued} queued`;
  return `hub ${h.hubId !== undefined ? `${h.hubId} ` : ''}${h.hubVersion}, up since ${iso(h.startedAt)} (${ago(h.startedAt, now)}); teacher ${h.teacherVersion ?? 'not ready yet'}; jobs: ${jobs}\n`;
}

export function formatSite(s: SiteDetails, now: number): string {
  const lines = [`site ${s.site}${s.hub !== undefined ? ` (hub ${s.hub})` : ''}: model ${s.modelVersion ?? 'none yet'}; agents ${s.agentsOnline}/${s.agents.length} online; windows ${s.windowsStored} stored, ${s.newWindows} new`];
  for (const a of s.agents) {
    const t = s.telemetry[a.agent] ?? null;
    const tele = t === null ? 'no telemetry yet'
      : `${t.windowsPerSec.toFixed(2)} windows/s, p99 ${t.inferP99Ms === null ? '–' : `${t.inferP99Ms.toFixed(2)} ms`}, outbox ${t.outboxDepth}, drift ${t.driftScore === null ? '–' : t.driftScore.toFixed(3)}`;
    lines.push(`  agent ${a.agent.padEnd(12)} ${a.state.padEnd(7)} last seen ${ago(a.lastSeenAt, now).padEnd(11)} model ${a.modelVersion ?? '–'}; ${tele}`);
  }
  const r = s.lastRound;
  if (r !== null) {
    const gate = r.candidateAgreement !== null ? `; gate: candidate ${pct(r.candidateAgreement)} vs current ${pct(r.currentAgreement)} agreement on ${r.heldOut ?? '?'} held-out windows` : '';
    const why = r.error !== null ? ` (${r.error.code}: ${r.error.message})` : r.outcome !== 'published' && r.reasons.length > 0 ? ` (${r.reasons.join('; ')})` : '';
    lines.push(`  last round ${r.jobId}: ${r.outcome}${r.version !== null ? ` ${r.version}` : ''} ${ago(r.finishedAt, now)}${gate}${why}`);
  } else if (s.lastRedistill !== null) {
    lines.push(`  last round: ${s.lastRedistill.outcome}${s.lastRedistill.modelVersion !== undefined ? ` ${s.lastRedistill.modelVersion}` : ''} ${ago(s.lastRedistill.at, now)} (gate figures are kept only since the hub started)`);
  }
  for (const al of s.alerts) lines.push(`  ALERT ${al.kind}: ${al.message}`);
  return `${lines.join('\n')}\n`;
}

export function formatModels(s: SiteDetails, now: number): string {
  const lines = [`site ${s.site}: serving ${s.modelVersion ?? 'none yet'}`];
  for (const m of [...s.models].reverse()) {
    const extra = m.kind === 'rollback' ? ` rollback from ${m.from ?? '?'} (${m.trigger ?? '?'}: ${m.reason ?? ''})` : m.rollout !== undefined ? ` rollout ${m.rollout}` : '';
    lines.push(`  ${m.version.padEnd(14)} ${m.kind.padEnd(9)} ${iso(m.at)} (${ago(m.at, now)})${extra}${m.version === s.modelVersion ? '  ← current' : ''}`);
  }
  const r = s.lastRound;
  if (r !== null && r.candidateAgreement !== null) {
    lines.push(`  last round ${r.jobId}: ${r.outcome}, candidate ${pct(r.candidateAgreement)} vs current ${pct(r.currentAgreement)} on ${r.heldOut ?? '?'} held-out windows`);
  }
  return `${lines.join('\n')}\n`;
}

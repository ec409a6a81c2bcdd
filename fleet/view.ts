/**
 * What the `sitekd fleet` terminal shows per site: the agent's model version and windows/s (its telemetry), the
 * simulator's accuracy per model version (it knows the labels), and the hub's last job. Pure state + rendering.
 */
import { decode } from '../shared/protocol/codec';
import { JobEventSchema, TelemetrySchema, type JobEvent, type Telemetry } from '../shared/protocol/messages';
import { parseTopic } from '../shared/protocol/topics';
import type { SiteScore } from '../sim/scoreboard';

interface SiteView {
  score?: SiteScore;
  telemetry?: Telemetry;
  job?: JobEvent;
  /** Completed redistillations: version published or rejection, in order. */
  history: string[];
}

export class FleetView {
  private readonly sites = new Map<string, SiteView>();
  dropped = 0;
  /** A line above the table while the hub is still preparing (fleet/hub-progress.ts). */
  note: string | undefined;

  constructor(private readonly simRoot: string) {}

  private site(id: string): SiteView {
    let s = this.sites.get(id);
    if (s === undefined) {
      s = { history: [] };
      this.sites.set(id, s);
    }
    return s;
  }

  handle(topic: string, payload: Buffer): void {
    if (topic.startsWith(`${this.simRoot}/`) && topic.endsWith('/score')) {
      try {
        const score = JSON.parse(payload.toString('utf8')) as SiteScore;
        if (typeof score.site === 'string') this.site(score.site).score = score;
      } catch {
        this.dropped++;
      }
      return;
    }
    const t = parseTopic(topic);
    if (t?.kind === 'telemetry') {
      const r = decode(TelemetrySchema, payload);
      if (r.ok) this.site(t.site).telemetry = r.value;
      else this.dropped++;
    } else if (t?.kind === 'hubJobs') {
      const r = decode(JobEventSchema, payload);
      if (!r.ok) {
        this.dropped++;
        return;
      }
      const s = this.site(r.value.site);
      s.job = r.value;
      if (r.value.state === 'done' && r.value.result?.version) s.history.push(`published ${r.value.result.version}`);
      if (r.value.state === 'rejected' || r.value.state === 'skipped') s.history.push(`${r.value.state}: ${r.value.message ?? ''}`.slice(0, 60));
    }
  }

  render(width = 120): string[] {
    const lines: string[] = this.note !== undefined ? [this.note] : [];
    const ids = [...this.sites.keys()].sort();
    lines.push(`${'site'.padEnd(8)} ${'data'.padEnd(14)} ${'model'.padEnd(12)} ${'win/s'.padStart(6)} ${'p50 ms'.padStart(7)}  accuracy per model version (before → after redistillation)`);
    for (const id of ids) {
      const s = this.sites.get(id) as SiteView;
      const data = s.score ? `${s.score.source} ${s.score.subject}` : '';
      const model = s.telemetry?.modelVersion ?? s.score?.modelVersion ?? '–';
      const wps = s.telemetry ? s.telemetry.windowsPerSec.toFixed(1) : '–';
      const p50 = s.telemetry?.inferP50Ms != null ? s.telemetry.inferP50Ms.toFixed(2) : '–';
      const acc = (s.score?.models ?? []).map((m) => `${m.modelVersion} ${m.accuracy === null ? '–' : `${(100 * m.accuracy).toFixed(1)}%`} (${m.total})`).join(' → ');
      lines.push(`${id.padEnd(8)} ${data.padEnd(14)} ${model.padEnd(12)} ${wps.padStart(6)} ${p50.padStart(7)}  ${acc || 'waiting for predictions'}`.slice(0, width));
      const job = s.job;
      if (job) {
        const extra = job.result?.rollbackFrom !== undefined
          ? ` rolled back from ${job.result.rollbackFrom} to ${job.result.version ?? '?'}`
          : job.result?.candidateAgreement !== undefined
            ? ` gate agreement with the reference: candidate ${(100 * job.result.candidateAgreement).toFixed(1)}% vs current ${(100 * (job.result.currentAgreement ?? 0)).toFixed(1)}%`
            : '';
        lines.push(`${''.padEnd(8)} job ${job.state}${job.progress !== undefined && job.state === 'running' ? ` ${(100 * job.progress).toFixed(0)}%` : ''} (${job.trigger})${extra}`.slice(0, width));
      }
    }
    return lines;
  }
}

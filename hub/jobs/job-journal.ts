/**
 * The redistill jobs' journal (`jobs.journal` in the hub's state directory): one JSON line per transition (`queued`,
 * `started`, and the end: `done`, `failed`, `skipped`), appended and fsynced before the transition is published. The
 * job queue itself lives in memory, so without this a hub killed during a round (kill -9, OOM, power loss) forgets the
 * job: no `failed` event, no record in the site registry, nothing in the log.
 *
 * At start the hub opens the journal: every job with a `queued` or `started` line and no end line was cut short by
 * the previous process, and is returned as interrupted, for the hub to report `failed` with JOB_INTERRUPTED (it does not
 * resume it: the next trigger runs a fresh round on the newest windows, which is what a resumed job would read
 * anyway). The file is then rewritten empty. Lines that do not parse (a torn last write) are skipped and counted.
 * While the hub runs, the file is emptied again whenever no job is open and it has grown past `compactAfterLines`.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { ErrorCode } from '../../shared/errors';
import type { JobEvent } from './job-queue';

const EntrySchema = z.object({
  type: z.enum(['queued', 'started', 'done', 'failed', 'skipped']),
  id: z.string().max(256),
  site: z.string().max(256),
  trigger: z.string().max(64),
  at: z.number(),
});
export type JournalEntry = z.infer<typeof EntrySchema>;

/** A job the previous process left open: its last journal line. */
export interface InterruptedJob {
  readonly id: string;
  readonly site: string;
  readonly trigger: string;
  readonly state: 'queued' | 'started';
  readonly at: number;
}

export class JobJournal {
  private readonly open = new Set<string>();
  private lines = 0;

  private constructor(
    readonly file: string,
    private readonly compactAfterLines: number,
  ) {}

  /** Reads what the previous process left, empties the file, and returns the journal and the interrupted jobs. */
  static openSync(file: string, opts: { compactAfterLines?: number } = {}): { journal: JobJournal; interrupted: InterruptedJob[]; badLines: number } {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const last = new Map<string, JournalEntry>();
    let badLines = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const entry = parseLine(line);
      if (entry === undefined) badLines++;
      else last.set(entry.id, entry);
    }
    const interrupted: InterruptedJob[] = [];
    for (const e of last.values()) {
      if (e.type === 'queued' || e.type === 'started') interrupted.push({ id: e.id, site: e.site, trigger: e.trigger, state: e.type, at: e.at });
    }
    fs.writeFileSync(file, '');
    return { journal: new JobJournal(file, opts.compactAfterLines ?? 1000), interrupted, badLines };
  }

  /** Appends one transition (progress reports are not journaled). Throws on an I/O error: the caller logs it. */
  record(e: JobEvent<unknown>, at: number): void {
    if (e.type === 'progress') return;
    const entry: JournalEntry = { type: e.type, id: e.job.id, site: e.job.site, trigger: e.job.trigger, at };
    if (e.type === 'queued' || e.type === 'started') this.open.add(entry.id);
    else this.open.delete(entry.id);
    if (this.open.size === 0 && this.lines >= this.compactAfterLines) {
      fs.writeFileSync(this.file, '');
      this.lines = 0;
      return;
    }
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, `${JSON.stringify(entry)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.lines++;
  }
}

function parseLine(line: string): JournalEntry | undefined {
  try {
    const r = EntrySchema.safeParse(JSON.parse(line));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The `failed` event a restarted hub reports for a job its previous process left open. */
export function interruptedJobEvent<R>(j: InterruptedJob, now: number): JobEvent<R> {
  const message = `the hub process ended while the job was ${j.state === 'started' ? 'running' : 'queued'}; it did not finish`;
  return {
    type: 'failed',
    job: {
      id: j.id, site: j.site, trigger: j.trigger, state: 'failed', progress: 0, note: undefined, queuedAt: j.at,
      startedAt: j.state === 'started' ? j.at : undefined, finishedAt: now, result: undefined, skipReason: undefined,
      error: { code: ErrorCode.JOB_INTERRUPTED, message },
    },
  };
}

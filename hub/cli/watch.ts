/**
 * `sitekd watch`: `sitekd status` that redraws every `--interval` seconds over one connection (in place on a
 * terminal, blocks separated by a blank line otherwise) until Ctrl-C or `--count` refreshes. Exit status: 0, or 1 when
 * the hub stops answering (the error is printed).
 */
import { defineCommand, type CommandIo } from '../../shared/cli/command';
import type { Parsed } from '../../shared/cli/options';
import type { Logger } from '../../shared/log';
import { connectHubClient } from './hub-client';
import { watchSpec } from './specs';
import { fetchStatus } from './status';
import { formatHub, formatSite } from './status-format';

async function runWatch(a: Parsed<typeof watchSpec.options>, io: CommandIo, log: Logger): Promise<number> {
  const { t, clientId } = await connectHubClient(a, io);
  log.debug('connected', { broker: a.broker, clientId });
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (let n = 0; !stopped && (a.count === undefined || n < a.count); n++) {
      if (n > 0) await sleepUnless(a.interval * 1000, () => stopped);
      if (stopped) break;
      const { hub, sites } = await fetchStatus(t, clientId, a.timeout * 1000);
      const now = Date.now();
      const alerts = sites.flatMap((s) => s.alerts).length;
      const text = `${formatHub(hub, now)}${sites.map((s) => formatSite(s, now)).join('')}${sites.length === 0 ? 'no sites yet\n' : ''}` +
        `${alerts === 0 ? 'no alerts' : `${alerts} alert(s)`} · ${new Date(now).toISOString()} · every ${a.interval} s, Ctrl-C stops\n`;
      io.stdout.write(io.stdout.isTTY ? `\x1b[H\x1b[J${text}` : `${n > 0 ? '\n' : ''}${text}`);
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await t.close().catch(() => undefined);
  }
}

/** Waits `ms`, in short steps so that Ctrl-C ends the wait at once. */
async function sleepUnless(ms: number, done: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
}

export const watchCommand = defineCommand(watchSpec, (a, { io, log }) => runWatch(a, io, log));

/**
 * `sitekd rollback --site S [--to V] [--reason TEXT]`: asks a running hub, over MQTT, to publish an earlier version of
 * a site again (docs/protocol.md "Rollback"), and prints what it published once the signed manifest is on the broker.
 * Without `--to` the hub picks the version the site served before its current one. The hub refuses with a code:
 * SITE_UNKNOWN, MODEL_VERSION_UNKNOWN, ROLLBACK_TO_CURRENT or MODEL_MISSING (docs/errors.md).
 * Exit status: 0 published; 1 refused, no reply, or any other error; 64 bad usage.
 */
import { defineCommand, type CommandIo } from '../../shared/cli/command';
import type { Parsed } from '../../shared/cli/options';
import type { Logger } from '../../shared/log';
import { requireSiteId } from '../../shared/protocol/topics';
import { commandId, connectHubClient, hubError, sendCommand } from './hub-client';
import { rollbackSpec } from './specs';

async function run(a: Parsed<typeof rollbackSpec.options>, io: CommandIo, log: Logger): Promise<number> {
  const site = requireSiteId(a.site);
  const { t, clientId } = await connectHubClient(a, io);
  log.debug('connected', { broker: a.broker, clientId });
  try {
    const reply = await sendCommand(
      t,
      { id: commandId(), cmd: 'rollback', site, ...(a.to !== undefined ? { to: a.to } : {}), ...(a.reason !== undefined ? { reason: a.reason } : {}) },
      clientId,
      a.timeout * 1000,
    );
    if (!reply.ok) throw hubError(reply);
    const r = reply.result ?? {};
    if (a.json) io.stdout.write(`${JSON.stringify(r)}\n`);
    else io.stdout.write(`${site}: rolled back from ${String(r['from'])} to ${String(r['version'])} (signed manifest, createdAt ${new Date(Number(r['createdAt'])).toISOString()}, key ${String(r['keyId'])}; job ${String(r['jobId'])})\n`);
    return 0;
  } finally {
    await t.close().catch(() => undefined);
  }
}

export const rollbackCommand = defineCommand(rollbackSpec, (a, { io, log }) => run(a, io, log));

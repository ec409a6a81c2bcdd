/**
 * Nothing lost silently (issue 8, finding 6): with the hub away, batches pile up in the agent's outbox until its byte
 * cap deletes the oldest. Each such drop must show in the agent's telemetry and in its log, not vanish.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAgent, type RunningAgent } from '../../agent/main';
import { decode } from '../../shared/protocol/codec';
import { TelemetrySchema, type Telemetry } from '../../shared/protocol/messages';
import { samplesTopic, telemetryTopic } from '../../shared/protocol/topics';
import { createLogger } from '../../shared/log';
import { AGENT, createHarness, makeModel, SITE, sleep, waitFor, writeModelFile, type Harness } from './agent-harness';

test('outbox drops at its cap are counted in telemetry and logged', async (t) => {
  const h = await createHarness(t);
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ stream: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }, json: true, level: 'warn' });
  const telemetry: Telemetry[] = [];
  await h.hub.subscribe(telemetryTopic(SITE, AGENT), (_t, p) => {
    const r = decode(TelemetrySchema, p);
    if (r.ok) telemetry.push(r.value);
  }, 0);
  let published = 0;
  await h.hub.subscribe(samplesTopic(SITE, AGENT), () => void published++, 1); // never acked: the hub is "away"
  // 4 windows of 128×9 float32 ≈ 18.5 kB a batch: a 64 KiB outbox holds only a few.
  const config = h.config({
    modelFile: writeModelFile(h.dir, makeModel('v1', 1)), outboxMaxBytes: 64 * 1024,
    upload: { intervalMs: 100, ackTimeoutMs: 60_000, budgetBytesPerMinute: 50_000_000, maxBatch: 4, randomShare: 1, maxInFlight: 1 },
  });
  const running = await startAgent(config, { log });
  // Stopped here, not in t.after: the harness's after hook closes the broker, and a stop after that never settles.
  try {
    await exercise(running, h, telemetry, lines, () => published);
  } finally {
    await running.stop();
  }
});

async function exercise(
  running: RunningAgent, h: Harness, telemetry: readonly Telemetry[], lines: ReadonlyArray<Record<string, unknown>>, published: () => number,
): Promise<void> {
  await running.transport.waitConnected(5000);
  await waitFor(() => running.agent.snapshot().state === 'running', 5000, 'agent running');
  await sleep(150);
  for (let burst = 0; burst < 10; burst++) {
    await h.publishReadings(1_700_000_000_000 + burst * 100_000, 320);
    await sleep(150);
  }
  // Generous: the full suite runs beside other work on 2 cores.
  await waitFor(() => running.agent.snapshot().uploader.batchesCut >= 6, 30_000, 'six batches cut');
  const cut = running.agent.snapshot().uploader.batchesCut;
  const depth = running.agent.snapshot().outbox.depth;
  assert.ok(cut - depth >= 2, `${cut} batches cut, ${depth} still queued`);
  await waitFor(() => (telemetry.at(-1)?.outboxDropped ?? 0) === cut - depth, 5000, 'telemetry counts the drops');
  const last = telemetry.at(-1) as Telemetry;
  assert.ok((last.outboxDroppedBytes ?? 0) > 10_000 * (cut - depth), `${last.outboxDroppedBytes} bytes dropped`);
  const warned = lines.filter((l) => l['msg'] === 'outbox full: oldest sample batch dropped unsent');
  assert.equal(warned.length, cut - depth, 'one warning per dropped batch');
  assert.equal(warned.at(-1)?.['droppedRecords'], cut - depth);
  assert.ok(published() >= 1);
}

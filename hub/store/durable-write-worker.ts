/**
 * The worker thread of hub/store/durable-writer.ts: a group commit's durable writes as one synchronous sequence, so
 * they cost the hub's main thread one message each way instead of an event-loop turn per open, write, fsync, close
 * and rename (under load each turn waits behind hundreds of inbound messages; docs/scaling.md).
 */
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { parentPort } from 'node:worker_threads';
import type { DurableJob, DurableReply } from './durable-writer';

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
}

/** Like shared/fs/atomic-file.ts writeFileAtomic: temporary file, fsync, rename, fsync of the directory. */
function writeAtomic(file: string, tmp: string, bytes: Uint8Array): void {
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      writeAll(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const d = fs.openSync(dirname(file), 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    // best effort, as in shared/fs/atomic-file.ts syncDir: some file systems refuse fsync on a directory
  }
}

function appendDurable(file: string, text: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    writeAll(fd, Buffer.from(text, 'utf8'));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function run(job: DurableJob): DurableReply {
  let step: 'write' | 'append' = 'write';
  try {
    if (job.write !== undefined) writeAtomic(job.write.file, job.write.tmp, job.write.bytes);
    step = 'append';
    if (job.append !== undefined) appendDurable(job.append.file, job.append.text);
    return { id: job.id, ok: true };
  } catch (err) {
    return { id: job.id, ok: false, failed: step, message: String((err as Error)?.message ?? err) };
  }
}

parentPort?.on('message', (job: DurableJob) => parentPort?.postMessage(run(job)));

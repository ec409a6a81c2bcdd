/** `sitekd watch` against a running hub: it redraws `sitekd status` every --interval seconds and stops after --count. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { makeFixture, startHub } from './hub-fixture';

const CLI = path.join(__dirname, '..', '..', 'bin', 'sitekd.js');

test('sitekd watch prints the hub and its sites once per interval and stops after --count', async () => {
  const fx = makeFixture('watch');
  const hub = await startHub(fx.config({ sites: ['site-1'] }));
  try {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI, 'watch', '--broker', hub.url, '--count', '2', '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(out.code, 0, out.stderr);
    const blocks = out.stdout.split(/every 1 s, Ctrl-C stops\n/).filter((b) => b.trim() !== '');
    assert.equal(blocks.length, 2, out.stdout);
    for (const b of blocks) assert.match(b, /site-1/);
  } finally {
    await hub.stop();
    fx.cleanup();
  }
});

/**
 * Child processes of the `sitekd fleet` demo: each part of the loop runs as its own `sitekd …` process, exactly as an
 * operator would start it, so the demo exercises the real CLIs (one composition root per process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const CLI = resolve(__dirname, '../bin/sitekd.js');

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
}

/** Starts `sitekd <args>` with stdout/stderr appended to `<logDir>/<name>.log`. */
export function startChild(name: string, args: string[], logDir: string, env: NodeJS.ProcessEnv = process.env): Child {
  const log: WriteStream = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  proc.stdout?.pipe(log);
  proc.stderr?.pipe(log);
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return { name, proc, exited };
}

/** Runs `sitekd <args>` to its end and returns its stdout; a non-zero exit is an error carrying its stderr. */
export function runCli(args: readonly string[]): Promise<string> {
  return new Promise((res, rej) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    proc.once('error', rej);
    proc.once('exit', (code) => (code === 0 ? res(out) : rej(new Error(`sitekd ${args.slice(0, 2).join(' ')} exited with ${code}: ${err.trim()}`))));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(c: Child, graceMs = 5000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(timer);
}

/** A free TCP port on 127.0.0.1 (asked of the OS, never computed). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Timing and machine-load helpers shared by the benchmarks. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Wall-clock and CPU milliseconds of one call. */
export interface Timed {
  readonly ms: number;
  /**
   * CPU time of the whole process (user + system). tfjs here computes on one thread, so on an idle machine this is
   * the wall time within a few % (Node's helper threads, e.g. the garbage collector's, count too); under load it
   * leaves out the time spent waiting for a core, which the wall time includes (it still grows somewhat, as busy
   * neighbours share caches).
   */
  readonly cpuMs: number;
}

/** CPU milliseconds since `from` (a process.cpuUsage() reading). */
export function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

/**
 * Warm-up, then 5 repetitions of ≥ `minMs` each and ≥ 3 calls; the median of the per-repetition means. With
 * minMs = 1500 this is the method of the PyTorch per-step figures (docs/pytorch-reference.md §4), so the two can
 * stand side by side.
 */
export function timeIt(fn: () => void, minMs: number, warmup = 3): Timed {
  for (let i = 0; i < warmup; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    do {
      fn();
      n++;
    } while (performance.now() - t0 < minMs || n < 3);
    wall.push((performance.now() - t0) / n);
    cpu.push(cpuMsSince(c0) / n);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

/**
 * The machine's load, for the results header: other work on the same cores slows every figure, so a reader needs
 * to know how busy the machine was to judge a comparison with a reference measured one benchmark at a time.
 */
export function loadNote(): string {
  const [one, five] = loadavg();
  return `load average ${(one ?? NaN).toFixed(2)} (1 min) / ${(five ?? NaN).toFixed(2)} (5 min) on ${cpus().length} cores`;
}

/** Writes a bench's report to `out` (creating its folder), echoes it on stdout and says where it went. */
export function writeReport(out: string, lines: readonly string[]): void {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n\nwrote ${out}\n`);
}

/** Runs a bench's main: a failure prints its stack and sets exit status 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}

/** The first doc comment of a compiled bench file, without its comment markers. */
function benchHelp(file: string | undefined): string {
  const text = file === undefined ? '' : readFileSync(file, 'utf8');
  const m = /\/\*\*([\s\S]*?)\*\//.exec(text);
  if (m === null) return 'no description';
  return (m[1] as string).split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim();
}

/**
 * `parseArgs` for every bench: `--help` prints the bench's own module comment (what it measures, its options) and
 * exits 0; an unknown or malformed option exits 64 with the parser's message, before any work.
 */
export function benchArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${benchHelp(require.main?.filename)}\n`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    return benchUsage((err as Error).message);
  }
}

/** A bad option value: the message and exit 64, as benchArgs does for options it cannot parse. */
export function benchUsage(message: string): never {
  process.stderr.write(`${message}\nRun with --help for the options.\n`);
  process.exit(64);
}

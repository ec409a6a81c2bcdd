/**
 * A strict reader of the Prometheus text exposition format (0.0.4) for tests: every line must be a `# HELP`, a
 * `# TYPE` (at most once per metric family, before its samples) or a sample `name{label="value",…} value`; anything
 * else throws with the line. Not a full implementation (no timestamps, no escapes beyond \\ \" \n in label values).
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(?:,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES = ['_bucket', '_sum', '_count'];

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  const typed = new Map<string, string>();
  const seenSamples = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const bad = (why: string): Error => new Error(`not Prometheus text (${why}): ${JSON.stringify(line)}`);
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) throw bad('comment');
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw bad('metric name');
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw bad('type');
        if (typed.has(name)) throw bad('second TYPE');
        if (seenSamples.has(name)) throw bad('TYPE after samples');
        typed.set(name, rest);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw bad('sample');
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    // Go's strconv.ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes `Nan`).
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(valueText);
    const value = special !== null ? (special[2]?.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(valueText);
    if (Number.isNaN(value) && special === null) throw bad('value');
    seenSamples.add(name);
    for (const s of SUFFIXES) if (name.endsWith(s)) seenSamples.add(name.slice(0, -s.length));
    out.push({ name, labels: parseLabels(labelText ?? '', bad), value });
  }
  return out;
}

function parseLabels(text: string, bad: (why: string) => Error): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (m === null || m.index !== at) throw bad('labels');
    const [, k, v] = m as unknown as [string, string, string];
    if (Object.hasOwn(labels, k)) throw bad('repeated label');
    labels[k] = v.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

/** The value of the sample with exactly these labels, if there is one. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>>): number | undefined {
  const keys = Object.keys(labels);
  const s = samples.find((x) => x.name === name && Object.keys(x.labels).length === keys.length && keys.every((k) => x.labels[k] === labels[k]));
  return s?.value;
}

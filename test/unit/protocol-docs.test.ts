/**
 * Keeps docs/protocol.md in step with shared/protocol (issue 3: "docs/protocol.md describes every topic and payload,
 * and a test keeps it in step with the schemas"), both ways:
 *  - every `XSchema` exported by messages.ts has exactly one `### X` section, and every `###` under "## Payloads" is one;
 *  - every top-level field of a schema (all arms of a union) is named as `field` in its section;
 *  - every ```json example in a section passes that section's schema, and every `mosquitto_pub -t T -m '…'` example
 *    passes the schema of T's kind (a sensor reading for topics outside sitekd/v1);
 *  - the topic table has one row per topic kind, with its pattern, QoS and retain flag as in topics.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { decode } from '../../shared/protocol/codec';
import { EXAMPLES } from '../../shared/protocol/examples';
import * as messages from '../../shared/protocol/messages';
import { parseTopic, ROOT_TOPIC, TOPIC_KINDS, TOPIC_PATTERNS, TOPIC_RULES } from '../../shared/protocol/topics';
import { repoRoot as findRepoRoot } from '../helpers/repo-root';


const DOC_PATH = path.join(findRepoRoot(__dirname), 'docs', 'protocol.md');
const DOC = fs.readFileSync(DOC_PATH, 'utf8');

interface Section {
  readonly level: number;
  readonly title: string;
  readonly line: number;
  /** Lines after the heading up to the next heading of the same or a higher level. */
  readonly body: string;
  readonly fences: ReadonlyArray<{ readonly lang: string; readonly text: string }>;
}

/** Headings outside fenced code, with their bodies and code blocks. */
function sections(markdown: string): Section[] {
  const lines = markdown.split(/\r?\n/);
  const heads: Array<{ level: number; title: string; line: number }> = [];
  let fence: string | undefined;
  lines.forEach((raw, i) => {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(raw)?.[1];
    if (f !== undefined) {
      if (fence === undefined) fence = f;
      else if (f === fence) fence = undefined;
      return;
    }
    if (fence !== undefined) return;
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(raw);
    if (m !== null) heads.push({ level: (m[1] as string).length, title: m[2] as string, line: i });
  });
  return heads.map((h, k) => {
    const next = heads.slice(k + 1).find((n) => n.level <= h.level);
    const bodyLines = lines.slice(h.line + 1, next === undefined ? lines.length : next.line);
    const fences: Array<{ lang: string; text: string }> = [];
    let open: { lang: string; text: string[] } | undefined;
    for (const l of bodyLines) {
      const m = /^\s{0,3}```(\w*)/.exec(l);
      if (m !== null && open === undefined) open = { lang: m[1] ?? '', text: [] };
      else if (m !== null && open !== undefined) {
        fences.push({ lang: open.lang, text: open.text.join('\n') });
        open = undefined;
      } else open?.text.push(l);
    }
    return { level: h.level, title: h.title, line: h.line + 1, body: bodyLines.join('\n'), fences };
  });
}

const ALL = sections(DOC);
const SCHEMAS: ReadonlyArray<[string, z.ZodType]> = (Object.entries(messages) as Array<[string, unknown]>)
  .filter((e): e is [string, z.ZodType] => e[0].endsWith('Schema') && e[1] instanceof z.ZodType)
  .map(([k, s]) => [k.slice(0, -'Schema'.length), s]);

/** Top-level field names of an object schema, or of every arm of a union of objects. */
function fieldsOf(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodUnion) return [...new Set((schema.options as z.ZodType[]).flatMap(fieldsOf))];
  throw new Error('payload schemas are objects or unions of objects');
}

function section(title: string, level = 3): Section[] {
  return ALL.filter((s) => s.level === level && s.title === title);
}

test('messages.ts exports the payload schemas this test expects', () => {
  assert.ok(SCHEMAS.length >= 11, SCHEMAS.map((s) => s[0]).join(', '));
  assert.deepEqual(SCHEMAS.map((s) => s[0]).sort(), Object.keys(EXAMPLES).sort(), 'one example builder per schema');
});

test('every payload schema has exactly one ### section, and every ### under Payloads is a schema', () => {
  const problems: string[] = [];
  for (const [name] of SCHEMAS) {
    const found = section(name);
    if (found.length !== 1) problems.push(`${name}: ${found.length} "### ${name}" sections`);
  }
  const payloads = section('Payloads', 2)[0];
  assert.ok(payloads !== undefined, 'no "## Payloads" section');
  const known = new Set(SCHEMAS.map((s) => s[0]));
  for (const s of ALL.filter((x) => x.level === 3 && x.line > payloads.line && payloads.body.includes(`### ${x.title}`))) {
    if (!known.has(s.title)) problems.push(`docs/protocol.md:${s.line}: "### ${s.title}" is not a schema in messages.ts`);
  }
  assert.deepEqual(problems, []);
});

test('every top-level field of every schema is named in its section', () => {
  const problems: string[] = [];
  for (const [name, schema] of SCHEMAS) {
    const s = section(name)[0];
    if (s === undefined) continue; // reported above
    for (const field of fieldsOf(schema)) if (!s.body.includes(`\`${field}\``)) problems.push(`${name}.${field}`);
  }
  assert.deepEqual(problems, [], `fields missing from docs/protocol.md:\n${problems.join('\n')}`);
});

test('every JSON example passes the schema of its section', () => {
  let checked = 0;
  for (const [name, schema] of SCHEMAS) {
    for (const f of section(name)[0]?.fences.filter((x) => x.lang === 'json') ?? []) {
      const r = decode(schema, new TextEncoder().encode(f.text));
      assert.ok(r.ok, `${name} example: ${r.ok ? '' : r.error.message}\n${f.text}`);
      checked++;
    }
  }
  // Every schema but the binary SampleBatch shows at least one example.
  for (const [name] of SCHEMAS) {
    if (name === 'SampleBatch') continue;
    assert.ok((section(name)[0]?.fences ?? []).some((x) => x.lang === 'json'), `${name} has no json example`);
  }
  assert.ok(checked >= 10);
});

test('the SampleBatch shape (msgpack only, so a text block) shows every field of the golden example, in order', () => {
  const text = section('SampleBatch')[0]?.fences.find((f) => f.lang === 'text')?.text ?? '';
  assert.deepEqual([...text.matchAll(/"(\w+)":/g)].map((m) => m[1]), Object.keys(EXAMPLES.SampleBatch()));
});

test('every mosquitto_pub example sends a payload its topic accepts', () => {
  const shell = ALL.flatMap((s) => s.fences).filter((f) => f.lang === 'sh');
  const pubs = shell.flatMap((f) => f.text.split('\n')).filter((l) => l.includes('mosquitto_pub'));
  assert.ok(pubs.length >= 3);
  for (const line of pubs) {
    const topic = / -t (\S+)/.exec(line)?.[1];
    const payload = / -m '([^']*)'/.exec(line)?.[1];
    assert.ok(topic !== undefined && payload !== undefined, line);
    const parsed = parseTopic(topic);
    const schema = parsed === undefined ? messages.SensorReadingSchema : messages.TOPIC_PAYLOADS[parsed.kind];
    assert.ok(schema !== 'raw', line);
    if (parsed === undefined) assert.ok(!topic.startsWith(`${ROOT_TOPIC}/`), `${topic} is under the root but not a topic`);
    const r = decode(schema, new TextEncoder().encode(payload));
    assert.ok(r.ok, `${line}\n${r.ok ? '' : r.error.message}`);
  }
});

test('the topic table lists every kind once, with the pattern, QoS and retain flag of topics.ts', () => {
  const topics = section('Topics', 2)[0];
  assert.ok(topics !== undefined, 'no "## Topics" section');
  const rows = topics.body
    .split('\n')
    .filter((l) => /^\|\s*`\w+`\s*\|/.test(l))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  const kinds = rows.map((r) => (r[0] ?? '').replace(/`/g, ''));
  assert.deepEqual([...kinds].sort(), [...TOPIC_KINDS].sort(), 'one row per kind');
  for (const r of rows) {
    const kind = (r[0] ?? '').replace(/`/g, '') as (typeof TOPIC_KINDS)[number];
    assert.equal(r[1], `\`${ROOT_TOPIC}/${TOPIC_PATTERNS[kind]}\``, `${kind}: topic`);
    assert.equal(r[2], String(TOPIC_RULES[kind].qos), `${kind}: QoS`);
    assert.equal(r[3], TOPIC_RULES[kind].retain ? 'yes' : 'no', `${kind}: retain`);
    const payload = messages.TOPIC_PAYLOADS[kind];
    if (payload !== 'raw') {
      const name = SCHEMAS.find(([, s]) => s === payload)?.[0];
      assert.ok(name !== undefined && (r[6] ?? '').includes(name), `${kind}: payload column should name ${name}`);
    }
  }
});

/**
 * Keeps shared/errors.ts and docs/errors.md in step, both ways (docs/conventions.md §3, after fastify): every code has
 * exactly one `## CODE` section, and every `## ` heading is a code.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode } from '../../shared/errors';
import { repoRoot as findRepoRoot } from '../helpers/repo-root';


const DOC = path.join(findRepoRoot(__dirname), 'docs', 'errors.md');

/** Level-2 headings (`## text`) outside fenced code blocks, with 1-based line numbers. */
function h2Headings(markdown: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let fence: string | undefined;
  markdown.split(/\r?\n/).forEach((raw, i) => {
    const f = /^\s{0,3}(`{3,}|~{3,})/.exec(raw)?.[1];
    if (f !== undefined) {
      if (fence === undefined) fence = f[0];
      else if (f[0] === fence) fence = undefined;
      return;
    }
    if (fence !== undefined) return;
    const m = /^ {0,3}##(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(raw);
    if (m !== null) out.push({ text: (m[1] ?? '').trim(), line: i + 1 });
  });
  return out;
}

const codes: string[] = Object.values(ErrorCode);
const headings = h2Headings(fs.readFileSync(DOC, 'utf8'));

test('every error code has exactly one section in docs/errors.md', () => {
  const problems: string[] = [];
  for (const code of codes) {
    const at = headings.filter((h) => h.text === code).map((h) => h.line);
    if (at.length === 0) problems.push(`${code}: no "## ${code}" heading`);
    if (at.length > 1) problems.push(`${code}: ${at.length} headings (lines ${at.join(', ')})`);
  }
  assert.deepEqual(problems, [], `docs/errors.md is out of step with shared/errors.ts:\n${problems.join('\n')}`);
});

test('every section of docs/errors.md is an error code', () => {
  const known = new Set(codes);
  const stray = headings.filter((h) => !known.has(h.text)).map((h) => `docs/errors.md:${h.line}: "## ${h.text}"`);
  assert.deepEqual(stray, [], `headings that are not codes in shared/errors.ts:\n${stray.join('\n')}`);
});

test('error codes are unique and named SITEKD_ERR_<KEY>', () => {
  assert.equal(new Set(codes).size, codes.length, 'two keys share a code');
  for (const [key, code] of Object.entries(ErrorCode)) assert.equal(code, `SITEKD_ERR_${key}`);
});

test('every section says what the code means and what to do', () => {
  const text = fs.readFileSync(DOC, 'utf8');
  for (const code of codes) {
    const start = text.indexOf(`\n## ${code}\n`);
    if (start < 0) continue; // reported by the first test
    const next = text.indexOf('\n## ', start + 1);
    const body = text.slice(start, next < 0 ? undefined : next);
    assert.match(body, /\*\*Means:\*\*\s*\S/, `${code}: no "**Means:**" paragraph`);
    assert.match(body, /\*\*What to do:\*\*\s*\S/, `${code}: no "**What to do:**" paragraph`);
  }
});

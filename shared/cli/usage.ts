/** `sitekd <command> --help`, derived from the option declarations (shared/cli/options.ts). */
import type { Option, Options } from './options';

/** Usage line, the summary, one aligned line per option with its default, choices or `required`, then exit statuses. */
export function formatUsage(command: string, spec: { readonly summary?: string; readonly options: Options; readonly exits?: Readonly<Record<number, string>> }): string {
  const rows: Array<[string, string]> = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}`;
    const left = o.type === 'string' ? `${flag} <${o.placeholder}>` : flag;
    const notes = optionNotes(o);
    return [left, notes.length > 0 ? `${o.description} (${notes.join('; ')})` : o.description];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length));
  const lines = [`Usage: sitekd ${command} [options]`];
  if (spec.summary !== undefined) lines.push('', spec.summary);
  lines.push('', 'Options:', ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`));
  if (spec.exits !== undefined) {
    lines.push('', 'Exit status:', ...Object.entries(spec.exits).map(([code, what]) => `  ${code.padStart(3)}  ${what}`));
  }
  return `${lines.join('\n')}\n`;
}

function optionNotes(o: Option<unknown>): string[] {
  const notes: string[] = [];
  if (o.choices !== undefined) notes.push(`one of: ${o.choices.join(', ')}`);
  if (o.required) notes.push('required');
  else if (o.type === 'string' && o.default !== undefined) notes.push(`default: ${showDefault(o.default)}`);
  else if (o.defaultLabel !== undefined) notes.push(`default: ${o.defaultLabel}`);
  return notes;
}

function showDefault(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** Reading small JSON files that other processes write (lock owners, leases). */
import * as fs from 'node:fs';
import type { z } from 'zod';

/** The file's JSON if it parses and matches `schema`; undefined when it is missing, unreadable or does not match. */
export function readValidJson<T>(file: string, schema: z.ZodType<T>): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

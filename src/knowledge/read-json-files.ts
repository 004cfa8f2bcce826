import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { KnowledgeProblem } from './problems';

/** A parsed JSON file and the path it came from, relative to the folder it was read from (for messages). */
export interface JsonFile {
  file: string;
  json: unknown;
}

/** Reads every `*.json` file below `dir` (sorted, so load order and messages are stable). */
export function readJsonFiles(dir: string, problems: KnowledgeProblem[], displayRoot = process.cwd()): JsonFile[] {
  const out: JsonFile[] = [];
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder).sort()) {
      const full = join(folder, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.json')) {
        const file = relative(displayRoot, full) || full;
        try {
          out.push({ file, json: JSON.parse(readFileSync(full, 'utf8')) as unknown });
        } catch (e) {
          problems.push({ file, path: '(file)', message: `not valid JSON: ${(e as Error).message}` });
        }
      }
    }
  };
  try {
    walk(dir);
  } catch (e) {
    problems.push({ file: dir, path: '(folder)', message: `cannot be read: ${(e as Error).message}` });
  }
  return out;
}

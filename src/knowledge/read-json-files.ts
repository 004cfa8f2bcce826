import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { KnowledgeProblem } from './problems';

/** A parsed JSON file and the path it came from, relative to the folder it was read from (for messages). */
export interface JsonFile {
  file: string;
  json: unknown;
}

/** Folders under the knowledge that hold policy test cases (knowledge/test-cases.ts), not FHIR resources. */
export const TEST_CASE_FOLDER = 'test-cases';

/**
 * Reads every `*.json` file below `dir` (sorted, so load order and messages are stable), skipping folders named in
 * `skipFolders`, or reading only inside them when `onlyFolders` is given.
 */
export function readJsonFiles(dir: string, problems: KnowledgeProblem[], options: { displayRoot?: string; skipFolders?: readonly string[]; onlyInFolders?: readonly string[] } = {}): JsonFile[] {
  const displayRoot = options.displayRoot ?? process.cwd();
  const out: JsonFile[] = [];
  const walk = (folder: string, inside: boolean): void => {
    for (const name of readdirSync(folder).sort()) {
      const full = join(folder, name);
      if (statSync(full).isDirectory()) {
        if (options.skipFolders?.includes(name)) continue;
        walk(full, inside || (options.onlyInFolders?.includes(name) ?? false));
      } else if (name.endsWith('.json') && (!options.onlyInFolders || inside)) {
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
    walk(dir, false);
  } catch (e) {
    problems.push({ file: dir, path: '(folder)', message: `cannot be read: ${(e as Error).message}` });
  }
  return out;
}

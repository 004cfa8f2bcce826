/** One thing wrong with a knowledge file: which file, where in it (a FHIRPath-like path) and what. */
export interface KnowledgeProblem {
  file: string;
  path: string;
  message: string;
}

/** Thrown when the knowledge folder cannot be applied; the message lists every problem, one per line. */
export class KnowledgeLoadError extends Error {
  constructor(readonly problems: KnowledgeProblem[]) {
    super(`Knowledge could not be loaded (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n`
      + problems.map((p) => `  ${p.file} ${p.path}: ${p.message}`).join('\n'));
    this.name = 'KnowledgeLoadError';
  }
}

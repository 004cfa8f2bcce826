/** How much work one call may cause (README "Security": MAX_DECISIONS_PER_CALL, MAX_COVERAGES_PER_CALL, MAX_ANSWER_BYTES). */
export interface WorkLimits {
  /** Orders × Coverages × governing rules one call may decide. */
  maxDecisions: number;
  /** Active Coverages one call considers. */
  maxCoverages: number;
  /** The largest answer (bytes of JSON). */
  maxAnswerBytes: number;
}

export const DEFAULT_WORK_LIMITS: WorkLimits = { maxDecisions: 5_000, maxCoverages: 50, maxAnswerBytes: 16 * 1024 * 1024 };

/**
 * A call that asks for more work than one call may cause: 413 (too costly: split the call) or 422 (the data breaks
 * a rule of this service, e.g. more active Coverages than a member can hold). Nothing of the call is stored.
 */
export class WorkLimitError extends Error {
  constructor(readonly status: 413 | 422, message: string, readonly expression?: string[]) {
    super(message);
    this.name = 'WorkLimitError';
  }
}

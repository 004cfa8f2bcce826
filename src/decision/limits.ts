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

/**
 * The answer encoded once, as the bytes that will be sent, and bounded by MAX_ANSWER_BYTES: larger is a 413 (with
 * `advice` on how to split the call), raised before the caller stores or sends anything.
 */
export function encodeAnswer(answer: unknown, maxAnswerBytes: number, advice: string): Buffer {
  const bytes = Buffer.from(JSON.stringify(answer), 'utf8');
  if (bytes.length > maxAnswerBytes) throw new WorkLimitError(413, `The answer would be ${bytes.length} bytes; at most ${maxAnswerBytes} (MAX_ANSWER_BYTES). ${advice}`);
  return bytes;
}

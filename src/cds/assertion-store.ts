import type { CoverageDecision } from '../engine/coverage-information';

/**
 * A coverage assertion as the payer keeps it: what was decided for which order, under which policy version and
 * when. Claims and appeals quote `assertionId` (CRD coverage-assertion-id). No clinical payload is kept.
 */
export interface StoredAssertion extends CoverageDecision {
  policy: string;
  serviceId: string;
  hookInstance: string;
  decidedAt: string;
}

/** Where assertions go; the persistence issue backs this with the database. */
export interface AssertionStore {
  save(assertions: StoredAssertion[]): Promise<void>;
  get(assertionId: string): Promise<StoredAssertion | undefined>;
}

/** Keeps the most recent assertions in memory, bounded so a flood cannot exhaust memory. */
export class MemoryAssertionStore implements AssertionStore {
  private readonly byId = new Map<string, StoredAssertion>();

  constructor(private readonly capacity = 100_000) {}

  save(assertions: StoredAssertion[]): Promise<void> {
    for (const a of assertions) {
      this.byId.set(a.assertionId, a);
      if (this.byId.size > this.capacity) {
        const oldest = this.byId.keys().next().value;
        if (oldest !== undefined) this.byId.delete(oldest);
      }
    }
    return Promise.resolve();
  }

  get(assertionId: string): Promise<StoredAssertion | undefined> {
    return Promise.resolve(this.byId.get(assertionId));
  }
}

/** One feedback item as kept (CDS Hooks 2.0 §Feedback), with the service it was posted to. */
export interface FeedbackRecord {
  serviceId: string;
  card: string;
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions: string[];
  overrideReason?: { system?: string; code?: string; display?: string };
  userComment?: string;
  outcomeTimestamp: string;
  receivedAt: string;
}

/** Where feedback goes. The persistence issue backs it with a database; the API stays the same. */
export interface FeedbackStore {
  add(records: FeedbackRecord[]): Promise<void>;
  list(): Promise<FeedbackRecord[]>;
}

/** Keeps the most recent feedback in memory, bounded so a flood cannot exhaust memory. */
export class MemoryFeedbackStore implements FeedbackStore {
  private readonly records: FeedbackRecord[] = [];

  constructor(private readonly capacity = 10_000) {}

  add(records: FeedbackRecord[]): Promise<void> {
    this.records.push(...records);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    return Promise.resolve();
  }

  list(): Promise<FeedbackRecord[]> {
    return Promise.resolve([...this.records]);
  }
}

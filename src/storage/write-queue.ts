import type { Logger } from 'pino';
import type { Database, Queryable } from './database';
import { describeError, isPermanentError } from './database';

/** How one table's rows are written: a batch inside the queue's transaction, in the order they were queued. */
export interface TableWriter<R> {
  readonly table: string;
  write(tx: Queryable, rows: R[]): Promise<void>;
  /** Called once the rows are committed (e.g. to forget a read-your-writes copy). */
  afterCommit?(rows: R[]): void;
  /** Called when the database rejected the row as invalid and the queue gave up on it. */
  afterDiscard?(row: R): void;
}

export interface WriteQueueOptions {
  /** Longest a queued item waits before a flush starts (default 200 ms). */
  flushIntervalMs?: number;
  /** A flush starts at once when this many items are queued; also the most written per transaction (default 500). */
  batchSize?: number;
  /** Items held at most; beyond it new items are refused and counted in `dropped` (default 50,000). */
  maxItems?: number;
  /** First retry delay after a failed flush; doubles per failure up to `retryMaxMs` (defaults 250 ms, 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/** Plain numbers for a metrics module to read. */
export interface WriteQueueStats {
  /** Items waiting to be written (gauge). */
  depth: number;
  /** Items committed (counter). */
  written: number;
  /** Flush attempts that failed and will be retried (counter). */
  failedAttempts: number;
  /** Items refused because the queue was full or closed (counter). */
  dropped: number;
  /** Items the database rejected as invalid (constraint or data errors), written nowhere (counter). */
  discarded: number;
}

interface Item {
  writer: TableWriter<unknown>;
  row: unknown;
}

/** Items of the batch, grouped per table in first-seen order, each table's rows in queue order. */
function groupByWriter(batch: readonly Item[]): Array<[TableWriter<unknown>, unknown[]]> {
  const groups = new Map<TableWriter<unknown>, unknown[]>();
  for (const item of batch) {
    const rows = groups.get(item.writer);
    if (rows) rows.push(item.row);
    else groups.set(item.writer, [item.row]);
  }
  return [...groups];
}

/**
 * Writes that must not slow the answer to the EHR but must not vanish either (coverage assertions, audit rows).
 * Items are written in batches, one transaction per batch, strictly first-in first-out: a batch that fails is
 * retried whole after a backoff, so nothing after it overtakes it and nothing in it is written twice. The queue
 * is bounded; when a long outage fills it, new items are refused and counted rather than exhausting memory.
 * A batch the database rejects as invalid is retried one item at a time so only the bad item is discarded.
 */
export class WriteQueue {
  private readonly items: Item[] = [];
  private readonly flushIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxItems: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly logger: WriteQueueOptions['logger'];

  private counters = { written: 0, failedAttempts: 0, dropped: 0, discarded: 0 };
  /** Items ever accepted, and items that have left the head of the queue (written or discarded). */
  private accepted = 0;
  private settled = 0;
  private consecutiveFailures = 0;
  /** After a rejected batch, this many items are written one per transaction to find the bad one. */
  private isolate = 0;

  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private waiters: Array<{ target: number; resolve: () => void }> = [];
  private closed = false;
  /** Set when close()'s deadline passes: the loop stops and what remains is reported, not written. */
  private stopped = false;

  constructor(private readonly db: Pick<Database, 'transaction'>, options: WriteQueueOptions = {}) {
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.batchSize = Math.max(1, options.batchSize ?? 500);
    this.maxItems = Math.max(1, options.maxItems ?? 50_000);
    this.retryBaseMs = options.retryBaseMs ?? 250;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.logger = options.logger;
  }

  get depth(): number {
    return this.items.length;
  }
  get written(): number {
    return this.counters.written;
  }
  get failedAttempts(): number {
    return this.counters.failedAttempts;
  }
  get dropped(): number {
    return this.counters.dropped;
  }
  get discarded(): number {
    return this.counters.discarded;
  }

  stats(): WriteQueueStats {
    return { depth: this.items.length, ...this.counters };
  }

  /** Queues one row; false (and counted in `dropped`) when the queue is full or closed. Never throws. */
  enqueue<R>(writer: TableWriter<R>, row: R): boolean {
    if (this.closed || this.items.length >= this.maxItems) {
      this.counters.dropped++;
      return false;
    }
    this.items.push({ writer: writer, row });
    this.accepted++;
    if (this.items.length >= this.batchSize) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.flushIntervalMs).unref();
    return true;
  }

  /**
   * Resolves once everything queued before the call has been written (or discarded as invalid). During an outage
   * it keeps waiting; shutdown uses close(), which has a deadline.
   */
  flush(): Promise<void> {
    const target = this.accepted;
    if (this.settled >= target || this.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    this.kick();
    this.wake?.(); // retry now rather than at the end of the backoff
    return done;
  }

  /**
   * Refuses new items and drains what is queued, retrying through failures until the queue is empty or
   * `deadlineMs` has passed. Resolves with how many items were left unwritten (0 on a clean drain).
   */
  async close(deadlineMs = 10_000): Promise<{ remaining: number }> {
    this.closed = true;
    let deadline: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      deadline = setTimeout(resolve, deadlineMs).unref();
    });
    await Promise.race([this.flush(), expired]);
    clearTimeout(deadline);
    if (this.items.length > 0) {
      this.stopped = true;
      this.wake?.();
      this.releaseWaiters();
      this.logger?.error({ remaining: this.items.length, tables: [...new Set(this.items.map((i) => i.writer.table))] }, 'write queue closed with unwritten items');
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Past the deadline a transaction may still be in flight; it is not awaited (a hung server would hang the
    // shutdown), and its items are counted as remaining even though they may yet commit.
    return { remaining: this.items.length };
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // Items that arrived while the last transaction committed, with no timer set for them.
      if (this.items.length > 0 && !this.stopped) this.timer ??= setTimeout(() => this.kick(), this.flushIntervalMs).unref();
    });
  }

  private async drain(): Promise<void> {
    while (this.items.length > 0 && !this.stopped) {
      const size = this.isolate > 0 ? 1 : this.batchSize;
      const batch = this.items.slice(0, size);
      try {
        const groups = groupByWriter(batch);
        await this.db.transaction(async (tx) => {
          for (const [writer, rows] of groups) await writer.write(tx, rows);
        });
        this.settle(batch.length);
        this.counters.written += batch.length;
        if (this.isolate > 0) this.isolate--;
        if (this.consecutiveFailures > 0) this.logger?.info({ afterFailures: this.consecutiveFailures }, 'write queue recovered');
        this.consecutiveFailures = 0;
        for (const [writer, rows] of groups) this.afterCommit(writer, rows);
      } catch (err) {
        await this.failed(batch, err);
      }
    }
  }

  private async failed(batch: Item[], err: unknown): Promise<void> {
    if (isPermanentError(err)) {
      if (batch.length > 1) {
        this.isolate = batch.length;
        return;
      }
      const item = batch[0];
      this.settle(1);
      this.counters.discarded++;
      if (this.isolate > 0) this.isolate--;
      if (item) this.afterDiscard(item);
      // The row is not logged: it may be an assertion or an audit record; the table and the error suffice.
      this.logger?.error({ table: item?.writer.table, err: describeError(err) }, 'write queue discarded an item the database rejected');
      return;
    }
    this.counters.failedAttempts++;
    this.consecutiveFailures++;
    const delay = this.backoff();
    this.logger?.warn({ err: describeError(err), depth: this.items.length, attempt: this.consecutiveFailures, retryInMs: delay }, 'write queue flush failed; will retry');
    await this.sleep(delay);
  }

  private backoff(): number {
    const exp = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(30, this.consecutiveFailures - 1));
    // Jitter, so replicas recovering from the same outage do not retry in lockstep.
    return Math.round(exp * (0.5 + Math.random() * 0.5));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms).unref();
      this.wake = done;
    });
  }

  private settle(count: number): void {
    this.items.splice(0, count);
    this.settled += count;
    this.waiters = this.waiters.filter((w) => {
      if (w.target > this.settled) return true;
      w.resolve();
      return false;
    });
  }

  private releaseWaiters(): void {
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private afterDiscard(item: Item): void {
    try {
      item.writer.afterDiscard?.(item.row);
    } catch (err) {
      this.logger?.warn({ table: item.writer.table, err: describeError(err) }, 'write queue afterDiscard hook failed');
    }
  }

  private afterCommit(writer: TableWriter<unknown>, rows: unknown[]): void {
    try {
      writer.afterCommit?.(rows);
    } catch (err) {
      this.logger?.warn({ table: writer.table, err: describeError(err) }, 'write queue afterCommit hook failed');
    }
  }
}

/** Thrown by stores whose write the queue refused (full or closed), so the caller logs a visible failure. */
export class QueueFullError extends Error {
  constructor(table: string) {
    super(`The write queue refused ${table} rows (full or closed); see the queue's dropped counter.`);
    this.name = 'QueueFullError';
  }
}

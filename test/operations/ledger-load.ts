/**
 * Load with a ledger of what was acknowledged: concurrent order-sign calls against a replica, each 200's
 * coverage-assertion ids (and hookInstance) written down the moment the answer arrives. A fault test then asserts
 * that every id in the ledger is in the database — the promise an id makes to the EHR. Not a test file.
 */
import { Agent } from 'node:http';
import { SIGN, decisionsOf, hookBody, http, newHookInstance, sacroplastyOrder } from './harness';
import type { HookResponse } from './harness';

export interface Acknowledged {
  id: string;
  hookInstance: string;
  /** When the 200 arrived (Date.now()). */
  at: number;
}

export interface LoadResult {
  acknowledged: Acknowledged[];
  /** Answers by status (0: no answer — the connection died). */
  statuses: Record<number, number>;
  /** 503 answers that lacked Retry-After (must stay 0). */
  withoutRetryAfter: number;
}

export interface RunningLoad {
  /** Stops issuing calls; resolves once every call in flight has settled. */
  stop: () => Promise<LoadResult>;
  result: LoadResult;
}

/** Starts `workers` loops of order-sign calls on a private keep-alive agent, until stop(). */
export function startLoad(url: string, options: { workers?: number; headers?: () => Promise<Record<string, string>> } = {}): RunningLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const result: LoadResult = { acknowledged: [], statuses: {}, withoutRetryAfter: 0 };
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      const hookInstance = newHookInstance();
      try {
        const headers = options.headers ? await options.headers() : {};
        const res = await http('POST', `${url}${SIGN}`, { headers, body: hookBody('order-sign', [sacroplastyOrder()], { hookInstance }), timeoutMs: 10_000, agent });
        result.statuses[res.status] = (result.statuses[res.status] ?? 0) + 1;
        if (res.status === 200) {
          const at = Date.now();
          for (const d of decisionsOf(res.json<HookResponse>())) result.acknowledged.push({ id: d.id, hookInstance, at });
        } else if (res.status === 503 && !res.headers['retry-after']) result.withoutRetryAfter++;
      } catch {
        result.statuses[0] = (result.statuses[0] ?? 0) + 1;
        // The service is gone (killed) or cut: back off a little instead of spinning on refused connections.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const loops = Array.from({ length: options.workers ?? 8 }, () => worker());
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}

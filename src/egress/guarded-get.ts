import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isSpecialAddress } from './target-policy';

/** A GET refused before any connection: a name that resolves to a loopback, private or link-local address. */
export class EgressRefusedError extends Error {
  override readonly name = 'EgressRefusedError';
  readonly code = 'EGRESS_REFUSED';
}

/** What came back: the status, and the body of a 2xx answer (undefined when larger than allowed). */
export interface GuardedResponse {
  status: number;
  body?: string | undefined;
  tooLarge?: true;
}

/**
 * The DNS lookup every guarded connection makes: all addresses of the name, refused when any of them is loopback,
 * private, link-local or otherwise special, unless the rule that allowed the target reaches private networks.
 * Checked here, in the connection's own lookup, the address checked is the address connected to.
 */
function guardedLookup(privateNetwork: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number }, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    const all: LookupAllOptions = { all: true, ...(options.family ? { family: options.family } : {}) };
    dnsLookup(hostname, all, (err, addresses) => {
      if (err) {
        callback(err, '');
        return;
      }
      if (addresses.length === 0 || (!privateNetwork && addresses.some((a) => isSpecialAddress(a.address)))) {
        callback(new EgressRefusedError('the target resolves to an address the service does not reach'), '');
        return;
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family);
    });
  }) as unknown as LookupFunction;
}

// Separate pools for targets that may and may not reach private addresses: a pooled socket never carries a request
// its own lookup would have refused.
const agents = {
  'http:': { public: new HttpAgent({ keepAlive: true }), private: new HttpAgent({ keepAlive: true }) },
  'https:': { public: new HttpsAgent({ keepAlive: true }), private: new HttpsAgent({ keepAlive: true }) },
};

/**
 * GETs `url` with `headers`, bounded in time (the whole exchange, body included) and size, following no redirect
 * (node:http never does): the caller decided `url` is allowed (target-policy.ts checkTarget) and says whether its
 * rule reaches private networks. Rejects with EgressRefusedError (no connection made), a TimeoutError, or the
 * network error.
 */
export function guardedGet(url: URL, privateNetwork: boolean, headers: Record<string, string>, options: { timeoutMs: number; maxBytes: number }): Promise<GuardedResponse> {
  return new Promise<GuardedResponse>((resolve, reject) => {
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const secure = url.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || (secure ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers,
      agent: agents[secure ? 'https:' : 'http:'][privateNetwork ? 'private' : 'public'],
      lookup: guardedLookup(privateNetwork),
    }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        finish(() => resolve({ status }));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > options.maxBytes) {
          res.destroy();
          finish(() => resolve({ status, tooLarge: true }));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(() => resolve({ status, body: Buffer.concat(chunks).toString('utf8') })));
      res.on('error', (err) => finish(() => reject(err)));
      res.on('aborted', () => finish(() => reject(new Error('the response was cut'))));
    });
    const timer = setTimeout(() => {
      const err = new Error(`no answer within ${options.timeoutMs} ms`);
      err.name = 'TimeoutError';
      finish(() => reject(err));
      req.destroy(err);
    }, options.timeoutMs);
    req.on('error', (err) => finish(() => reject(err)));
    req.end();
  });
}

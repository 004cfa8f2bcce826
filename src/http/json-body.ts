import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';
import type { Request, RequestHandler } from 'express';
import { HttpError } from './errors';

/**
 * The request-body bytes the process holds at once, across every request (MAX_BUFFERED_BYTES). A request takes its
 * declared Content-Length before its first byte is read (chunked and compressed bodies take what arrives, as it
 * arrives) and gives it back once it is answered: the parsed body lives as long as the request does.
 */
export class BodyBudget {
  private used = 0;
  constructor(readonly max: number) {}
  get inUse(): number {
    return this.used;
  }
  tryTake(bytes: number): boolean {
    if (this.used + bytes > this.max) return false;
    this.used += bytes;
    return true;
  }
  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

export interface JsonBodyOptions {
  /** Media types parsed as JSON; other bodies are never read here (the routes answer 415). */
  types: string[];
  /** The largest body this request may send (MAX_BODY_BYTES, or PUBLIC_MAX_BODY_BYTES on unauthenticated routes). */
  maxBytes: (req: Request) => number;
  budget: BodyBudget;
  /** BODY_TIMEOUT_MS: from the first read to the last byte. */
  timeoutMs: number;
  /** Retry-After on a 503 when the budget is spent (seconds; default 1). */
  retryAfterSec?: number;
}

const TOO_LARGE = 'The request body is larger than this service accepts.';
const UNSUPPORTED = 'Unsupported content encoding or charset; send UTF-8 JSON.';

function decoder(encoding: string): Transform | undefined {
  switch (encoding) {
    case 'gzip': return createGunzip();
    case 'deflate': return createInflate();
    case 'br': return createBrotliDecompress();
    default: return undefined;
  }
}

/**
 * Reads and parses a JSON body within bounds, in place of express.json (issue 13, item 4):
 * - a declared Content-Length over the limit is 413 before any byte is read, and the connection is closed;
 * - the body must arrive within BODY_TIMEOUT_MS of the first read, else 408 and the connection is closed;
 * - the bytes held across all requests stay under MAX_BUFFERED_BYTES: a request that would pass it is 503 with
 *   Retry-After at once (declared length) or as soon as its chunks would (chunked, compressed), unread;
 * - compressed bodies (gzip, deflate, br) are bounded by their decompressed size.
 * Like express.json with `strict: false`: any JSON value, an empty body is `{}`, a UTF-8 BOM is skipped; errors are
 * OperationOutcomes (400 structure, 413 too-long, 415 not-supported).
 */
export function jsonBody(options: JsonBodyOptions): RequestHandler {
  const retryAfter = String(options.retryAfterSec ?? 1);
  return (req, res, next) => {
    const { headers } = req;
    if (headers['transfer-encoding'] === undefined && headers['content-length'] === undefined) {
      next();
      return;
    }
    if (!req.is(options.types)) {
      next();
      return;
    }
    // Any refusal before the whole body has arrived closes the connection: the rest is never read nor waited for.
    const refuse = (err: HttpError): void => {
      if (!req.complete && !res.headersSent) res.setHeader('Connection', 'close');
      next(err);
    };
    const limit = options.maxBytes(req);
    const declared = headers['transfer-encoding'] === undefined ? Number(headers['content-length']) : undefined;
    if (declared !== undefined && declared > limit) {
      refuse(new HttpError(413, 'too-long', TOO_LARGE));
      return;
    }
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(headers['content-type'] ?? '')?.[1]?.toLowerCase();
    const encoding = (headers['content-encoding'] ?? 'identity').toLowerCase();
    const inflate = encoding === 'identity' ? undefined : decoder(encoding);
    if ((charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') || (encoding !== 'identity' && !inflate)) {
      refuse(new HttpError(415, 'not-supported', UNSUPPORTED));
      return;
    }
    const busy = (): HttpError => new HttpError(503, 'transient', 'The service is receiving too many request bodies at once; retry shortly.', undefined, { 'Retry-After': retryAfter });
    let held = declared !== undefined && !inflate ? declared : 0;
    if (!options.budget.tryTake(held)) {
      refuse(busy());
      return;
    }
    let given = false;
    res.once('close', () => {
      if (given) return;
      given = true;
      options.budget.give(held);
    });

    const source: Readable = inflate ?? req;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: HttpError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      source.removeListener('data', onData);
      source.removeListener('end', onEnd);
      req.removeListener('close', onClose);
      if (inflate) {
        req.unpipe(inflate);
        inflate.on('error', () => undefined);
        inflate.destroy();
      }
      if (err) {
        chunks.length = 0;
        refuse(err);
        return;
      }
      const buffer = Buffer.concat(chunks, size);
      chunks.length = 0;
      let text = buffer.toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.length === 0) {
        req.body = {};
        next();
        return;
      }
      try {
        req.body = JSON.parse(text) as unknown;
      } catch {
        next(new HttpError(400, 'structure', 'The request body is not valid JSON.'));
        return;
      }
      if (inflate) req.resume();
      next();
    };
    const onData = (chunk: Buffer): void => {
      if (given) {
        finish(new HttpError(400, 'incomplete', 'The request was aborted before its body was received.'));
        return;
      }
      size += chunk.length;
      if (size > limit) {
        finish(new HttpError(413, 'too-long', TOO_LARGE));
        return;
      }
      if (size > held) {
        // Chunked or compressed: the budget is taken as bytes arrive (in steps, so a trickle costs few calls).
        const step = Math.min(Math.max(size - held, 64 * 1024), limit - held);
        if (!options.budget.tryTake(step)) {
          finish(busy());
          return;
        }
        held += step;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    const onClose = (): void => {
      if (!req.complete) finish(new HttpError(400, 'incomplete', 'The request was aborted before its body was received.'));
    };
    const timer = setTimeout(() => finish(new HttpError(408, 'timeout', `The request body did not arrive within ${options.timeoutMs} ms.`)), options.timeoutMs);
    timer.unref();
    source.on('data', onData);
    source.on('end', onEnd);
    req.on('close', onClose);
    if (inflate) {
      inflate.on('error', () => finish(new HttpError(400, 'structure', 'The request body could not be decompressed.')));
      req.pipe(inflate);
    }
  };
}

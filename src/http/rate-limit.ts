import type { RequestHandler } from 'express';
import { HttpError } from './errors';

/**
 * A fixed-window limit per client address (req.ip, which honours `trust proxy`): at most `perMinute` requests a
 * minute, then 429 with Retry-After until the window turns. The table is bounded: past `maxKeys` addresses in one
 * window, every new address shares one key (a flood of spoofed sources cannot grow memory).
 */
export function rateLimit(options: { perMinute: number; maxKeys?: number; now?: () => number }): RequestHandler {
  const maxKeys = options.maxKeys ?? 10_000;
  const now = options.now ?? Date.now;
  let windowStart = now();
  let counts = new Map<string, number>();
  return (req, res, next) => {
    const t = now();
    if (t - windowStart >= 60_000) {
      windowStart = t;
      counts = new Map();
    }
    const address = req.ip ?? 'unknown';
    const key = counts.has(address) || counts.size < maxKeys ? address : '*';
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n > options.perMinute) {
      const retry = Math.max(1, Math.ceil((windowStart + 60_000 - t) / 1000));
      next(new HttpError(429, 'throttled', `Too many requests from this address; retry in ${retry} s.`, undefined, { 'Retry-After': String(retry) }));
      return;
    }
    res.setHeader('RateLimit-Remaining', String(options.perMinute - n));
    next();
  };
}

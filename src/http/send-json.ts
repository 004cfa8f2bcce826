import type { Response } from 'express';

/**
 * Sends a JSON answer to a POST as `res.json` would (same status, Content-Type `application/json; charset=utf-8`,
 * Content-Length and body bytes) but without the ETag Express computes for every body it sends: a SHA-1 over the
 * whole answer (~15 kB for an order-sign with cards). Nothing uses that validator on a CDS Hooks answer: it is the
 * result of a POST, which caches do not reuse without explicit freshness (RFC 9110 §9.3.3), and Express only ever
 * answers 304 to GET and HEAD. Only for POST routes, then: `res.send` also handles HEAD and 304, this does not.
 * The body is encoded once, to a Buffer that also gives its length (a string would be measured, then encoded); a
 * Buffer is sent as it is (already encoded JSON, e.g. to bound its size first).
 */
export function sendPostJson(res: Response, body: unknown): void {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), 'utf8');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}

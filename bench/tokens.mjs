/* eslint-disable @typescript-eslint/explicit-module-boundary-types -- plain JavaScript modules of the bench harness, not part of the typed service */
// CDS client JWTs for the benchmark, the same kind dist/tools/dev-token.js devToken() makes (ES384, kid, typ JWT,
// iss = the dev issuer, aud = the URL called, 5-minute life, a unique jti), minted with node:crypto so that a pool
// of thousands can be signed in parallel on the libuv thread pool before a run instead of during it.
import { createPrivateKey, randomUUID, sign } from 'node:crypto';

const b64url = (value) => Buffer.from(value).toString('base64url');

export class TokenMinter {
  constructor(privateJwk, issuer) {
    this.issuer = issuer;
    const { kid = 'dev' } = privateJwk;
    this.key = createPrivateKey({ key: { kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, y: privateJwk.y, d: privateJwk.d }, format: 'jwk' });
    this.header = b64url(JSON.stringify({ alg: 'ES384', kid, typ: 'JWT' }));
  }

  signingInput(audience) {
    const iat = Math.floor(Date.now() / 1000);
    return `${this.header}.${b64url(JSON.stringify({ iss: this.issuer, aud: audience, iat, exp: iat + 300, jti: randomUUID() }))}`;
  }

  /** One token, signed synchronously (used only when a pool runs dry, which the report counts). */
  mintSync(audience) {
    const input = this.signingInput(audience);
    return `${input}.${sign('sha384', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }

  /** `count` tokens for `audience`, signed on the thread pool in parallel batches. */
  async mint(audience, count) {
    const out = new Array(count);
    const batch = 256;
    for (let start = 0; start < count; start += batch) {
      const jobs = [];
      for (let i = start; i < Math.min(count, start + batch); i++) {
        const input = this.signingInput(audience);
        jobs.push(new Promise((resolve, reject) => {
          sign('sha384', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' }, (err, sig) => {
            if (err) reject(err);
            else {
              out[i] = `${input}.${sig.toString('base64url')}`;
              resolve();
            }
          });
        }));
      }
      await Promise.all(jobs);
    }
    return out;
  }
}

/** Hands each request its own token; a dry pool falls back to synchronous signing and counts it. */
export class TokenPool {
  constructor(minter, audience, tokens) {
    this.minter = minter;
    this.audience = audience;
    this.tokens = tokens;
    this.used = 0;
    this.dry = 0;
  }

  next() {
    if (this.used < this.tokens.length) return this.tokens[this.used++];
    this.dry++;
    return this.minter.mintSync(this.audience);
  }
}

// The floors the service is compared with: the least any Express 5 service answering these calls must do.
//   a: parse the same JSON body (express.json, same limit and types as src/app.ts) and answer a small card.
//   b: a, plus verify the caller's ES384 JWT with jose (jwtVerify against a local JWK set: signature, iss, aud = the
//      URL called, exp). No replay (jti) store, no schema validation, no policy, no persistence, no logging.
//   c: a, answering instead the service's own order-sign answer, captured once and sent precomputed (same bytes):
//      the floor that isolates what the answer's size costs from what the service's own work costs (issue 15).
// Usage: node bench/floor-server.mjs <a|b> <port> [clients.json publicUrl]
//        node bench/floor-server.mjs c <port> <answer.json>; prints "listening <port>" when ready.
import { readFileSync } from 'node:fs';
import express from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [mode, portArg, clientsFile, publicUrl] = process.argv.slice(2);
if (mode !== 'a' && mode !== 'b' && mode !== 'c') throw new Error('mode must be a, b or c');
const precomputed = mode === 'c' ? readFileSync(clientsFile) : undefined;

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: 5 * 1024 * 1024, type: ['application/json', 'application/fhir+json', 'application/*+json'], strict: false }));

if (mode === 'b') {
  const [client] = JSON.parse(readFileSync(clientsFile, 'utf8'));
  const keys = createLocalJWKSet(client.jwks);
  app.use('/cds-services', (req, res, next) => {
    const m = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    if (!m) {
      res.status(401).json({ error: 'no token' });
      return;
    }
    jwtVerify(m[1], keys, { algorithms: ['ES384'], issuer: client.iss, audience: `${publicUrl}${req.originalUrl.split('?')[0]}`, requiredClaims: ['exp', 'jti'] })
      .then(() => next(), () => res.status(401).json({ error: 'invalid token' }));
  });
}

const card = { summary: 'Sacroplasty not covered (CCP.1247)', indicator: 'warning', source: { label: 'AmeriHealth Caritas VIP Care' } };
app.post('/cds-services/:id', (req, res) => {
  const body = req.body;
  if (!body || typeof body !== 'object') {
    res.status(400).json({ error: 'body must be a JSON object' });
    return;
  }
  if (precomputed) res.type('application/json').send(precomputed);
  else res.json({ cards: [card], systemActions: [] });
});

const server = app.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
server.keepAliveTimeout = 65_000;
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});

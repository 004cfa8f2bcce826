import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { JWK } from 'jose';

/**
 * Development helper: a local test EHR client. The first run creates an ES384 key pair and a CDS_CLIENTS file
 * registering it (data/dev-client/); every run prints a fresh JWT for the URL given, so curl examples keep working
 * with authentication on. Never use this client in production.
 */
export const DEV_ISSUER = 'https://dev-ehr.localhost';

export async function ensureDevClient(dir: string): Promise<{ privateJwk: JWK; clientsFile: string }> {
  const keyFile = resolve(dir, 'private.jwk.json');
  const clientsFile = resolve(dir, 'clients.json');
  if (!existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true });
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const kid = `dev-${randomUUID().slice(0, 8)}`;
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES384' };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' };
    writeFileSync(keyFile, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600 });
    writeFileSync(clientsFile, `${JSON.stringify([{ iss: DEV_ISSUER, jwks: { keys: [publicJwk] } }], null, 2)}\n`);
  }
  return { privateJwk: JSON.parse(readFileSync(keyFile, 'utf8')) as JWK, clientsFile };
}

/** A CDS client JWT as CDS Hooks 2.0 describes it: ES384, kid, typ JWT, iss, aud = the URL, 5-minute life, jti. */
export async function devToken(privateJwk: JWK, audience: string): Promise<string> {
  const key = await importJWK(privateJwk, 'ES384');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: privateJwk.kid ?? 'dev', typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(key);
}

async function main(): Promise<void> {
  const audience = process.argv[2];
  const dir = resolve(process.env['DEV_CLIENT_DIR'] ?? 'data/dev-client');
  const { privateJwk, clientsFile } = await ensureDevClient(dir);
  if (!audience) {
    process.stdout.write(`Dev client ready: CDS_CLIENTS=${clientsFile}\nUsage: npm run -s token -- <URL called, e.g. http://localhost:3000/cds-services/order-sign-crd>\n`);
    return;
  }
  process.stdout.write(`${await devToken(privateJwk, audience)}\n`);
}

if (require.main === module) void main();

import pino from 'pino';
import type { Logger } from 'pino';

/**
 * JSON-lines logger. Redaction is a second line of defence: no code path logs headers or bodies, but if one ever
 * did, tokens and patient data would be censored.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'payer-crd' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'fhirAuthorization', '*.fhirAuthorization', 'access_token', '*.access_token', 'patientId', '*.patientId', 'prefetch', '*.prefetch'],
      censor: '[redacted]',
    },
  });
}

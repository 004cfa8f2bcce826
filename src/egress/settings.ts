import { defaultAllowlist, parseRule } from './target-policy';
import type { TargetRule } from './target-policy';
import { DEFAULT_TRUSTED_HOSTS, HOST_HEADER } from './trusted-hosts';

/** FHIR_SERVER_ALLOWLIST and CDS_TRUSTED_HOSTS (README "Security": where tokens may go, what links are built on). */
export function egressSettings(env: NodeJS.ProcessEnv): { fhirServerAllowlist: TargetRule[]; trustedHosts: string[] } {
  const production = env['NODE_ENV'] === 'production';
  const list = (key: string): string[] | undefined => (env[key] === undefined || env[key] === '' ? undefined : (env[key] ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  const fhirServerAllowlist = (list('FHIR_SERVER_ALLOWLIST') ?? defaultAllowlist(production))
    .map((entry) => parseRule(entry, { what: 'FHIR_SERVER_ALLOWLIST', production, wildcards: true }));
  const host = env['HOST'];
  const listening = host && !['0.0.0.0', '::', '[::]'].includes(host) ? [host.includes(':') && !host.startsWith('[') ? `[${host}]` : host] : [];
  const trustedHosts = (list('CDS_TRUSTED_HOSTS') ?? [...DEFAULT_TRUSTED_HOSTS, ...listening]).map((h) => h.toLowerCase());
  const bad = trustedHosts.find((h) => !HOST_HEADER.test(h));
  if (bad !== undefined) throw new Error(`CDS_TRUSTED_HOSTS must list host or host:port values, not "${bad}"`);
  return { fhirServerAllowlist, trustedHosts };
}

import { badRequest } from '../http/errors';
import type { StoredResource } from './repository';

/** The search parameters this endpoint supports on every knowledge type (listed in the CapabilityStatement). */
export const SEARCH_PARAMS: ReadonlyArray<{ name: string; type: 'uri' | 'token' | 'string'; documentation: string }> = [
  { name: '_id', type: 'token', documentation: 'Logical id; comma-separated values match any' },
  { name: 'url', type: 'uri', documentation: 'Canonical URL, exact match' },
  { name: 'version', type: 'token', documentation: 'Business version, exact match' },
  { name: 'name', type: 'string', documentation: 'Computable name; case-insensitive, matches the start of the name' },
  { name: 'status', type: 'token', documentation: 'draft | active | retired | unknown' },
];
/** Result parameters accepted and ignored (the whole result is always returned as JSON). */
const IGNORED = new Set(['_format', '_pretty']);

const field = (r: StoredResource, name: string): unknown => (name === '_id' ? r.resource.id : r.resource[name]);

function matches(r: StoredResource, name: string, values: string[]): boolean {
  // A canonical search value may carry a version: url=<url>|<version> (FHIR R4 search §3.1.1.4.8, uri).
  if (name === 'url') {
    return values.some((value) => {
      const bar = value.indexOf('|');
      return bar < 0 ? r.resource['url'] === value : r.resource['url'] === value.slice(0, bar) && r.resource['version'] === value.slice(bar + 1);
    });
  }
  const v = field(r, name);
  if (typeof v !== 'string') return false;
  if (name === 'name') return values.some((x) => v.toLowerCase().startsWith(x.toLowerCase()));
  return values.includes(v);
}

/**
 * Filters by the query: parameters AND together, comma-separated values OR (FHIR R4 search §3.1.1.4.2).
 * An unknown or modified parameter is a 400, not silently ignored: the client would get more than it asked for.
 */
export function search(resources: StoredResource[], query: Record<string, unknown>): StoredResource[] {
  const supported = new Set(SEARCH_PARAMS.map((p) => p.name));
  const criteria: Array<[string, string[]]> = [];
  for (const [key, raw] of Object.entries(query)) {
    if (IGNORED.has(key)) continue;
    if (!supported.has(key)) throw badRequest(`Unknown search parameter "${key.slice(0, 64)}". Supported: ${[...supported].join(', ')}.`, [key.slice(0, 64)]);
    const list = Array.isArray(raw) ? raw : [raw];
    if (!list.every((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 2048)) throw badRequest(`Search parameter "${key}" needs a value.`, [key]);
    for (const value of list) criteria.push([key, value.split(',').map((s) => s.trim()).filter(Boolean)]);
  }
  return resources.filter((r) => criteria.every(([name, values]) => matches(r, name, values)));
}

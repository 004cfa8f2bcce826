import type { FhirResource } from 'fhir/r4';

/** A resource that has a canonical `url` (PlanDefinition, ActivityDefinition, ValueSet, CodeSystem, Evidence …). */
export type CanonicalResource = FhirResource & { url?: string; version?: string; status?: string };

/** Splits `url|version` (FHIR R4 §2.1.0.4 canonical references). */
export function splitCanonical(ref: string): { url: string; version?: string } {
  const bar = ref.indexOf('|');
  return bar < 0 ? { url: ref } : { url: ref.slice(0, bar), version: ref.slice(bar + 1) };
}

/**
 * Resources by canonical URL. A reference with `|version` must match that version; without one it resolves to the
 * newest active version (FHIR R4 §2.1.0.4: "the latest version"), compared numerically segment by segment.
 */
export class CanonicalIndex {
  private readonly byUrl = new Map<string, CanonicalResource[]>();

  add(resource: CanonicalResource): void {
    if (!resource.url) return;
    const list = this.byUrl.get(resource.url) ?? [];
    list.push(resource);
    list.sort((a, b) => (b.version ?? '').localeCompare(a.version ?? '', 'en', { numeric: true }));
    this.byUrl.set(resource.url, list);
  }

  has(url: string, version?: string): boolean {
    return (this.byUrl.get(url) ?? []).some((r) => version === undefined || r.version === version);
  }

  resolve<T extends CanonicalResource = CanonicalResource>(ref: string, resourceType?: T['resourceType']): T | undefined {
    const { url, version } = splitCanonical(ref);
    const candidates = (this.byUrl.get(url) ?? []).filter((r) => !resourceType || r.resourceType === resourceType);
    const found = version !== undefined
      ? candidates.find((r) => r.version === version)
      : candidates.find((r) => r.status === 'active') ?? candidates[0];
    return found as T | undefined;
  }
}

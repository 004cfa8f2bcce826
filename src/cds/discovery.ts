import type { Catalog } from '../engine/catalog';
import { CRD_CONFIGURATION_OPTIONS_KEY, CRD_VERSION_KEY } from '../fhir/constants';
import { displayMonth, isPastReview } from '../knowledge/policies';
import { configurationOptions } from './configuration';
import type { ConfigurationOption } from './configuration';

/** CRD versions whose semantics this service follows (indeterminate coverage, pa-needed absent when not covered). */
const CRD_VERSION = ['2.2'];

/** One entry of the discovery response (CDS Hooks 2.0 §Discovery, plus the CRD discovery extension). */
export interface DiscoveryService {
  hook: string;
  id: string;
  title: string;
  description: string;
  prefetch?: Record<string, string>;
  usageRequirements?: string;
  extension: Record<string, unknown>;
}

/** The parts of discovery fixed for a knowledge load: each service's entry and configuration options. */
export interface DiscoveryTemplate {
  entries: Array<{ entry: DiscoveryService; usage?: string }>;
  options: ReadonlyMap<string, ConfigurationOption[]>;
}

/**
 * One entry per hook service, whatever the number of policies (CRD 2.2 found-15), built once per knowledge load:
 * ids are written in cds-services/ only, and each service's configuration options come from the card types the
 * catalog offers on its hook.
 */
export function discoveryTemplate(catalog: Catalog): DiscoveryTemplate {
  const options = new Map<string, ConfigurationOption[]>();
  const entries = [...catalog.knowledge.services.values()].map(({ definition }) => {
    const opts = configurationOptions(catalog, definition.hook);
    options.set(definition.id, opts);
    const entry: DiscoveryService = {
      hook: definition.hook,
      id: definition.id,
      title: definition.title,
      description: definition.description,
      ...(definition.prefetch ? { prefetch: definition.prefetch } : {}),
      extension: { [CRD_VERSION_KEY]: CRD_VERSION, [CRD_CONFIGURATION_OPTIONS_KEY]: opts },
    };
    return definition.usageRequirements ? { entry, usage: definition.usageRequirements } : { entry };
  });
  return { entries, options };
}

/**
 * The discovery answer today. A policy past its next review date still applies; usageRequirements says so, so
 * integrators and payer staff see it (the list is cut after a few names).
 */
export function discovery(template: DiscoveryTemplate, catalog: Catalog, now: Date): { services: DiscoveryService[] } {
  const overdue = [...catalog.knowledge.policies.values()].filter((p) => p.role === 'policy' && isPastReview(p, now));
  const named = overdue.slice(0, 5).map((p) => `${p.resource.title ?? p.key} (${displayMonth(p.nextReviewDate) ?? '?'})`).join('; ') + (overdue.length > 5 ? '; …' : '');
  const [only] = overdue;
  const note = !only ? undefined
    : overdue.length === 1 ? `Policy ${only.resource.title ?? only.key} is past its next review date (${displayMonth(only.nextReviewDate) ?? '?'}); it still applies.`
      : `${overdue.length} policies are past their next review date: ${named}; they still apply.`;
  return {
    services: template.entries.map(({ entry, usage }) => {
      const text = [usage, note].filter(Boolean).join(' ');
      return text ? { ...entry, usageRequirements: text } : entry;
    }),
  };
}

import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { isPastReview } from '../knowledge/knowledge-base';
import { CRD_CONFIGURATION_OPTIONS_KEY, CRD_VERSION_KEY } from '../fhir/constants';
import { configurationOptions } from './configuration';

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

/**
 * Discovery, generated from the loaded service definitions (ids are written in one place only). A policy past its
 * next review date still applies; discovery says so in usageRequirements so integrators and payer staff see it.
 */
export function discovery(knowledge: KnowledgeBase, now: Date): { services: DiscoveryService[] } {
  const services = [...knowledge.services.values()].map(({ definition, plan }) => {
    const notes = [definition.usageRequirements];
    if (isPastReview(plan.resource, now)) notes.push(`Policy ${plan.resource.title ?? plan.canonical} is past its next review date (${plan.nextReview ?? '?'}); it still applies.`);
    const usage = notes.filter(Boolean).join(' ');
    const entry: DiscoveryService = {
      hook: definition.hook,
      id: definition.id,
      title: definition.title,
      description: definition.description,
      ...(definition.prefetch ? { prefetch: definition.prefetch } : {}),
      ...(usage ? { usageRequirements: usage } : {}),
      extension: { [CRD_VERSION_KEY]: CRD_VERSION, [CRD_CONFIGURATION_OPTIONS_KEY]: configurationOptions(plan) },
    };
    return entry;
  });
  return { services };
}

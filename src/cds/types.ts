import type { Coding, FhirResource } from 'fhir/r4';

/** CDS Hooks 2.0 §Card attributes (https://cds-hooks.hl7.org/2.0/#card-attributes). */
export interface Card {
  uuid: string;
  summary: string;
  detail?: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; url?: string; icon?: string; topic?: Coding };
  suggestions?: Suggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: Coding[];
  links?: Link[];
  extension?: Record<string, unknown>;
}

/** CDS Hooks 2.0 §Suggestion. */
export interface Suggestion {
  label: string;
  uuid: string;
  isRecommended?: boolean;
  actions?: Action[];
}

/** CDS Hooks 2.0 §Action. */
export interface Action {
  type: 'create' | 'update' | 'delete';
  description: string;
  resource?: FhirResource;
  resourceId?: string;
}

/** CDS Hooks 2.0 §Link. */
export interface Link {
  label: string;
  url: string;
  type: 'absolute' | 'smart';
  appContext?: string;
}

/** CDS Hooks 2.0 §CDS Service Response. */
export interface HookResponse {
  cards: Card[];
  systemActions?: Action[];
}

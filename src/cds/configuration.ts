import type { Catalog } from '../engine/catalog';
import { CARD_TYPE_SYSTEM, CRD_CONFIGURATION_KEY, CRD_PRIMARY_HOOKS } from '../fhir/constants';
import { HttpError } from '../http/errors';

/** A discovery configuration option (CRD 2.x CDSHookServicesExtensionConfiguration). */
export interface ConfigurationOption {
  code: string;
  type: 'boolean' | 'integer';
  name: string;
  description: string;
  default: boolean | number;
}

/** Names and descriptions for the CRD card-type codes a policy may offer (CRD card-type value set). */
const CARD_TYPE_TEXT: Record<string, [string, string]> = {
  'coverage-info': ['Coverage information', 'Return the coverage decision (covered, not covered, indeterminate) as a coverage-information system action on each order decided.'],
  'therapy-alternatives-req': ['Required therapy alternatives', 'Cards saying an ordered service is not covered and naming the covered alternatives (as replacement orders while the order is a draft).'],
  'therapy-alternatives-opt': ['Optional therapy alternatives', 'Cards proposing covered alternatives that the plan prefers.'],
  guideline: ['Policy and evidence', 'Cards linking the plan\'s clinical policy, its evidence, and the details app.'],
  'clinical-reminder': ['Clinical reminders', 'Reminders related to the order.'],
  'appropriate-use': ['Appropriate use', 'Appropriate-use guidance for the order.'],
  cost: ['Cost', 'Cost information for the order.'],
  claim: ['Claim', 'Claim-related information.'],
  insurance: ['Insurance', 'Insurance-related information.'],
  limits: ['Limits', 'Benefit limits.'],
  network: ['Network', 'Network status.'],
  'off-guideline': ['Off-guideline', 'Orders outside the plan\'s guidelines.'],
  'duplicate-therapy': ['Duplicate therapy', 'Possible duplicate therapy.'],
  contraindication: ['Contraindication', 'Possible contraindications.'],
  'unsolicited-determ': ['Unsolicited determination', 'Unsolicited determinations.'],
};
export const DEFAULT_MAX_CARDS = 20;

const unprocessable = (message: string, where: string): HttpError => new HttpError(422, 'invalid', message, [where]);

/** The card-type codes the catalog's rules for this hook produce, in first-seen order. */
export function cardTypesOf(catalog: Catalog, hook: string): string[] {
  const seen = new Set<string>();
  for (const policy of catalog.policies.values()) {
    for (const rule of policy.rules) {
      if (!rule.rule.hooks.has(hook)) continue;
      if (rule.coverageTemplate) seen.add('coverage-info');
      for (const card of rule.cards) {
        if (card.hooks && !card.hooks.has(hook)) continue;
        for (const c of card.action.code?.flatMap((x) => x.coding ?? []) ?? []) if (c.system === CARD_TYPE_SYSTEM && c.code) seen.add(c.code);
      }
    }
  }
  return [...seen];
}

/**
 * Discovery options for one hook's service (CRD 2.2 dev-4, dev-5): a boolean per card type the catalog offers on
 * the hook, `coverage-info` first and always on primary hooks (the CRD test kit requires it), then `max-cards`.
 */
export function configurationOptions(catalog: Catalog, hook: string): ConfigurationOption[] {
  const types = cardTypesOf(catalog, hook);
  if (CRD_PRIMARY_HOOKS.has(hook) && !types.includes('coverage-info')) types.unshift('coverage-info');
  types.sort((a, b) => (a === 'coverage-info' ? -1 : b === 'coverage-info' ? 1 : 0));
  const options: ConfigurationOption[] = types.map((code) => {
    const [name, description] = CARD_TYPE_TEXT[code] ?? [code, `Cards of type ${code}.`];
    return { code, type: 'boolean', name, description, default: true };
  });
  options.push({ code: 'max-cards', type: 'integer', name: 'Maximum cards', description: 'The most cards returned in one response; the most severe are kept.', default: DEFAULT_MAX_CARDS });
  return options;
}

/** The request's configuration, applied to the options this service offers. */
export interface RequestConfiguration {
  disabledTypes: Set<string>;
  maxCards: number;
}

/**
 * Reads `extension["davinci-crd.configuration"]` (CRD 2.2 dev-12..17): options are honoured, never required;
 * unknown keys are ignored. A known key with the wrong JSON type is valid JSON that breaks a CRD rule: 422
 * (hooks.md hook-13), since silently ignoring it would give the EHR an answer it asked not to get.
 */
export function readConfiguration(extension: unknown, options: ConfigurationOption[]): RequestConfiguration {
  const result: RequestConfiguration = { disabledTypes: new Set(), maxCards: DEFAULT_MAX_CARDS };
  const raw = extension && typeof extension === 'object' ? (extension as Record<string, unknown>)[CRD_CONFIGURATION_KEY] : undefined;
  if (raw === undefined) return result;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw unprocessable(`extension.${CRD_CONFIGURATION_KEY} must be an object`, `extension.${CRD_CONFIGURATION_KEY}`);
  for (const option of options) {
    const value = (raw as Record<string, unknown>)[option.code];
    if (value === undefined) continue;
    const where = `extension.${CRD_CONFIGURATION_KEY}.${option.code}`;
    if (option.type === 'boolean') {
      if (typeof value !== 'boolean') throw unprocessable(`${where} must be a boolean (CRD configuration option of type boolean)`, where);
      if (!value) result.disabledTypes.add(option.code);
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw unprocessable(`${where} must be a non-negative integer (CRD configuration option of type integer)`, where);
      result.maxCards = value;
    }
  }
  return result;
}

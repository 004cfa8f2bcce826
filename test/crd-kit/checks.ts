/**
 * The Da Vinci CRD server test kit's v2.2.1 server-suite checks (crd_server_v221), reimplemented as pure functions
 * over recorded exchanges. Each returns the kit's result (pass / fail / skip / omit) with the messages that explain
 * it. Sources: notes/crd-kit.md (section numbers cited per function) and the IG's logical models; where the kit
 * runs the FHIR validator against a profile, the profile's constraints that matter for these resources are checked
 * by hand (listed per resource type in profileErrors) — a FHIR validator is not available here.
 */
import { STANDARD_PREFETCH } from './standard-prefetch';

export type Json = Record<string, unknown>;
export type Result = 'pass' | 'fail' | 'skip' | 'omit';
export interface Outcome {
  result: Result;
  /** Error messages (any error fails the test). */
  errors: string[];
  /** Warnings and info (never fail). */
  notes?: string[];
}

/** One recorded POST, as the kit stores it: the hook, its tags, the body as sent, the answer. */
export interface Exchange {
  hook: string;
  tags: string[];
  request: Json;
  status: number;
  response: unknown;
  text: string;
  /** The random key a follow-up added (unknown configuration / context / element). */
  addedKey?: string;
}

export const COVERAGE_INFO_URL = 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information';
export const CARD_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/cdshooks-card-type';
export const CRD_TEMP_SYSTEM = 'http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp';
export const PRIMARY_HOOKS: ReadonlySet<string> = new Set(['appointment-book', 'order-sign', 'order-dispatch']);
export const ALL_HOOKS = ['appointment-book', 'encounter-start', 'order-select', 'order-sign', 'order-dispatch', 'encounter-discharge'] as const;
/** cross_suite/profiles_and_resource_types.rb ORDER_RESOURCE_TYPES. */
export const ORDER_TYPES: ReadonlySet<string> = new Set(['CommunicationRequest', 'DeviceRequest', 'MedicationRequest', 'NutritionOrder', 'ServiceRequest', 'VisionPrescription']);
/** Resource types a coverage-information system action may update (CRDHooksResponse-coverageInformation). */
export const COVERAGE_INFO_TARGETS: ReadonlySet<string> = new Set(['Appointment', 'Encounter', ...ORDER_TYPES]);
const ADDITIONAL_ORDERS_TYPES = new Set(['CommunicationRequest', 'Device', 'DeviceRequest', 'Medication', 'MedicationRequest', 'NutritionOrder', 'ServiceRequest', 'VisionPrescription']);
const ALTERNATE_REQUEST_TYPES = new Set(['CommunicationRequest', 'Device', 'DeviceRequest', 'Encounter', 'Medication', 'MedicationRequest', 'NutritionOrder', 'ServiceRequest', 'VisionPrescription']);
/** The 16 sub-extensions of ext-coverage-information (all mustSupport). */
export const COVERAGE_INFO_SUB_EXTENSIONS = ['coverage', 'covered', 'pa-needed', 'doc-needed', 'doc-purpose', 'info-needed', 'billingCode', 'reason', 'detail', 'dependency', 'questionnaire', 'date', 'coverage-assertion-id', 'satisfied-pa-id', 'contact', 'expiry-date'] as const;
/** CRD cardType value set = every code of the cdshooks-card-type code system. */
const CARD_TYPES = new Set(['coverage-info', 'unsolicited-determ', 'claim', 'insurance', 'limits', 'network', 'appropriate-use', 'cost', 'therapy-alternatives-opt', 'therapy-alternatives-req', 'clinical-reminder', 'duplicate-therapy', 'contraindication', 'guideline', 'off-guideline']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const LOCAL_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const FHIR_DATE = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$/;
const HTTP_URL = /^https?:\/\/[^\s/]+/;

// ---------------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------------

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const objects = (v: unknown): Json[] => list(v).filter(isObject);
const blank = (v: unknown): boolean => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
const refOf = (r: unknown): string | undefined => (isObject(r) && isString(r['reference']) ? r['reference'] : undefined);
const typeOfRef = (r: unknown): string | undefined => LOCAL_REFERENCE.exec(refOf(r) ?? '')?.[1];
const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined');
const label = (r: Json): string => `${String(r['resourceType'])}/${String(r['id'])}`;

export const outcome = (errors: string[], notes: string[] = []): Outcome => ({ result: errors.length > 0 ? 'fail' : 'pass', errors, ...(notes.length > 0 ? { notes } : {}) });
const skip = (why: string): Outcome => ({ result: 'skip', errors: [], notes: [why] });
const omit = (why: string): Outcome => ({ result: 'omit', errors: [], notes: [why] });

/** JSON with sorted keys, for order-insensitive comparison and sorting. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

export const withTag = (exchanges: readonly Exchange[], tag: string): Exchange[] => exchanges.filter((e) => e.tags.includes(tag));
const ok = (exchanges: readonly Exchange[]): Exchange[] => exchanges.filter((e) => e.status === 200);
const where = (e: Exchange, i: number): string => `request ${i + 1} (${e.tags.join(', ')}, hookInstance ${String(e.request['hookInstance'])})`;

const cardsOf = (response: unknown): Json[] => (isObject(response) ? objects(response['cards']) : []);
const systemActionsOf = (response: unknown): Json[] => (isObject(response) ? objects(response['systemActions']) : []);
const resourceOf = (action: Json): Json | undefined => (isObject(action['resource']) ? action['resource'] : undefined);
const extensionsOf = (resource: Json | undefined, url: string): Json[] => objects(resource?.['extension']).filter((e) => e['url'] === url);
const subs = (ext: Json, url: string): Json[] => objects(ext['extension']).filter((s) => s['url'] === url);

// ---------------------------------------------------------------------------------------------------------------
// §6.1 Classification (cross_suite/cards_identification.rb, newest generation)
// ---------------------------------------------------------------------------------------------------------------

export type CardType = 'companions_prerequisites' | 'create_update_coverage_info' | 'external_reference' | 'request_form_completion' | 'instructions' | 'launch_smart_app' | 'propose_alternate_request';
export type ActionType = 'coverage_information' | 'create_update_coverage_info' | 'request_form_completion';

const actionResourceType = (action: Json): string | undefined => {
  const r = resourceOf(action);
  if (r && isString(r['resourceType'])) return r['resourceType'];
  return isString(action['resourceId']) ? action['resourceId'].split('/')[0] : undefined;
};
const actionIs = (action: Json, type: string, types: ReadonlySet<string>): boolean => action['type'] === type && types.has(actionResourceType(action) ?? '');

function formCompletionTask(resource: Json | undefined): boolean {
  if (!resource || resource['resourceType'] !== 'Task') return false;
  const code = isObject(resource['code']) ? objects(resource['code']['coding']) : [];
  return code.some((c) => c['code'] === 'complete-questionnaire')
    && objects(resource['input']).some((i) => isObject(i['type']) && i['type']['text'] === 'questionnaire' && isString(i['valueCanonical']) && HTTP_URL.test(i['valueCanonical']));
}

export function identifyActionType(action: Json): ActionType | undefined {
  if (!isString(action['type'])) return undefined;
  const resource = resourceOf(action);
  if (resource && COVERAGE_INFO_TARGETS.has(String(resource['resourceType'])) && extensionsOf(resource, COVERAGE_INFO_URL).length > 0) return 'coverage_information';
  if ((action['type'] === 'create' || action['type'] === 'update') && actionResourceType(action) === 'Coverage') return 'create_update_coverage_info';
  if (action['type'] === 'create' && formCompletionTask(resource)) return 'request_form_completion';
  return undefined;
}

/** The kit's per-type predicates (cards_identification.rb); each per-type test selects cards with its own predicate. */
export const CARD_PREDICATES: Record<CardType, (card: Json) => boolean> = {
  companions_prerequisites: (card) => {
    const suggestions = objects(card['suggestions']);
    return suggestions.length > 0 && suggestions.every((s) => Array.isArray(s['actions']) && objects(s['actions']).every((a) => actionIs(a, 'create', ADDITIONAL_ORDERS_TYPES)));
  },
  create_update_coverage_info: (card) => {
    const suggestions = objects(card['suggestions']);
    if (suggestions.length !== 1) return false;
    const actions = objects(suggestions[0]!['actions']).filter((a) => (a['type'] === 'create' || a['type'] === 'update') && actionResourceType(a) === 'Coverage');
    return actions.length === 1;
  },
  external_reference: (card) => objects(card['links']).length > 0 && objects(card['links']).every((l) => l['type'] === 'absolute'),
  request_form_completion: (card) => {
    const suggestions = objects(card['suggestions']);
    return suggestions.length > 0 && suggestions.every((s) => Array.isArray(s['actions']) && objects(s['actions']).filter((a) => a['type'] === 'create' && formCompletionTask(resourceOf(a))).length === 1);
  },
  instructions: (card) => blank(card['links']) && blank(card['suggestions']),
  launch_smart_app: (card) => objects(card['links']).length > 0 && objects(card['links']).every((l) => l['type'] === 'smart'),
  propose_alternate_request: (card) => objects(card['suggestions']).some((s) => {
    const actions = objects(s['actions']);
    return actions.some((a) => actionIs(a, 'update', ALTERNATE_REQUEST_TYPES))
      || (actions.some((a) => actionIs(a, 'delete', ALTERNATE_REQUEST_TYPES)) && actions.some((a) => actionIs(a, 'create', ALTERNATE_REQUEST_TYPES)));
  }),
};
const CARD_ORDER: CardType[] = ['companions_prerequisites', 'create_update_coverage_info', 'external_reference', 'request_form_completion', 'instructions', 'launch_smart_app', 'propose_alternate_request'];

/** identify_card_type: the first type whose predicate holds (used to sort cards, e.g. for the must-support test). */
export function identifyCardType(card: Json): CardType | undefined {
  if (card['type'] !== undefined) return undefined;
  return CARD_ORDER.find((t) => CARD_PREDICATES[t](card));
}

/** cards_identification: a card of topic coverage-info (or source.type), or a coverage-info / form-completion action. */
export function coverageInfoResponse(response: unknown): boolean {
  return cardsOf(response).some(coverageInfoCard) || coverageInfoSystemActionResponse(response);
}
export function coverageInfoSystemActionResponse(response: unknown): boolean {
  return systemActionsOf(response).some((a) => {
    const t = identifyActionType(a);
    return t === 'coverage_information' || t === 'request_form_completion';
  });
}
function coverageInfoCard(card: Json): boolean {
  const source = isObject(card['source']) ? card['source'] : {};
  return (isObject(source['topic']) && source['topic']['code'] === 'coverage-info') || source['type'] === 'coverage-info';
}

// ---------------------------------------------------------------------------------------------------------------
// §3 Discovery
// ---------------------------------------------------------------------------------------------------------------

export function discoveryEndpoint(status: number, body: unknown): Outcome {
  const errors: string[] = [];
  if (status !== 200) errors.push(`GET /cds-services answered ${status}, not 200`);
  if (body === undefined) errors.push('The discovery response is not valid JSON');
  return outcome(errors);
}

export function servicesOf(discovery: unknown): Json[] {
  return isObject(discovery) ? objects(discovery['services']) : [];
}

/** crd_v221_discovery_services_validation (§3, 1.03). */
export function discoveryServicesValidation(discovery: unknown): Outcome {
  if (!isObject(discovery) || !('services' in discovery)) return outcome(['The discovery response has no `services`']);
  if (!Array.isArray(discovery['services'])) return outcome(['`services` is not an Array']);
  const services = discovery['services'] as unknown[];
  if (services.length === 0) return skip('No services listed');
  const errors: string[] = [];
  services.forEach((s, i) => {
    const at = `services[${i}]`;
    if (!isObject(s)) {
      errors.push(`${at} is not an object`);
      return;
    }
    for (const k of ['hook', 'description', 'id']) if (!isString(s[k])) errors.push(`${at} (${String(s['id'])}): \`${k}\` missing or not a String`);
    const ext = s['extension'];
    if (!isObject(ext)) {
      errors.push(`${at} (${String(s['id'])}): \`extension\` missing or not an object`);
      return;
    }
    const versions = ext['davinci-crd.version'];
    if (!Array.isArray(versions) || versions.length === 0 || !versions.every(isString)) {
      errors.push(`${at} (${String(s['id'])}): \`davinci-crd.version\` must be a non-empty Array of Strings`);
      return;
    }
    for (const v of versions) if (!/^[1-9]\d*\.\d+$/.test(v)) errors.push(`${at} (${String(s['id'])}): version "${v}" is not major.minor`);
  });
  return outcome(errors);
}

/** crd_v221_discovery_configuration (§3, 1.04). */
export function discoveryConfiguration(discovery: unknown): Outcome {
  const services = servicesOf(discovery);
  const errors: string[] = [];
  for (const s of services) {
    const options = isObject(s['extension']) ? list(s['extension']['davinci-crd.configuration-options']) : [];
    const seen: Record<string, Set<unknown>> = { code: new Set(), name: new Set(), description: new Set() };
    for (const o of options) {
      if (!isObject(o)) {
        errors.push(`${String(s['id'])}: a configuration option is not an object`);
        continue;
      }
      for (const field of ['code', 'type', 'name', 'description', 'default']) {
        if (!(field in o)) errors.push(`${String(s['id'])}: configuration option \`${String(o['code'])}\` does not contain \`${field}\` field`);
      }
      for (const field of ['code', 'type', 'name', 'description']) {
        if (field in o && !isString(o[field])) errors.push(`${String(s['id'])}: configuration option \`${String(o['code'])}\` \`${field}\` is not a String`);
      }
      for (const field of ['code', 'name', 'description'] as const) {
        if (seen[field]!.has(o[field])) errors.push(`${String(s['id'])}: duplicate configuration option ${field} \`${String(o[field])}\``);
        seen[field]!.add(o[field]);
      }
    }
  }
  if (errors.length > 0) return outcome(errors);
  const primary = services.filter((s) => PRIMARY_HOOKS.has(String(s['hook'])));
  if (primary.length === 0) return omit('No primary-hook services');
  for (const s of primary) {
    const options = isObject(s['extension']) ? objects(s['extension']['davinci-crd.configuration-options']) : [];
    if (options.length === 0) {
      errors.push(`${String(s['id'])}: no davinci-crd.configuration-options`);
      continue;
    }
    const ci = options.find((o) => o['code'] === 'coverage-info');
    if (!ci) errors.push(`Service \`${String(s['id'])}\` does not contain a \`coverage-info\` configuration option`);
    else if (ci['type'] !== 'boolean') errors.push(`Service \`${String(s['id'])}\` \`coverage-info\` configuration option is not of type boolean`);
  }
  return outcome(errors);
}

/** crd_v221_discovery_prefetch_support (§3, 1.05). */
export function discoveryPrefetchSupport(discovery: unknown): Outcome {
  return servicesOf(discovery).some((s) => !blank(s['prefetch'])) ? outcome([]) : skip('No service declares prefetch');
}

/**
 * crd_v221_discovery_standard_prefetch_expressions (§3, 1.06): warnings only. Returned as `notes`; the standard key
 * each actual key stands for is inferred (equal expression), then `%standardKey` references are rewritten to the
 * actual keys before comparing the dependent expressions.
 */
export function discoveryStandardPrefetch(discovery: unknown): Outcome {
  const services = servicesOf(discovery).filter((s) => isObject(s['prefetch']) && Object.keys(s['prefetch']).length > 0);
  if (services.length === 0) return skip('No service has prefetch');
  const warnings: string[] = [];
  for (const s of services) {
    const standard = STANDARD_PREFETCH[String(s['hook'])];
    if (!standard) continue;
    const prefetch = s['prefetch'] as Json;
    const mapping = new Map<string, string>(); // standard key → actual key
    for (let changed = true; changed;) {
      changed = false;
      for (const [stdKey, expression] of Object.entries(standard)) {
        if (mapping.has(stdKey)) continue;
        const refs = [...expression.matchAll(/%([A-Za-z]+)/g)].map((m) => m[1]!);
        if (refs.some((r) => !mapping.has(r))) continue;
        const rewritten = expression.replace(/%([A-Za-z]+)/g, (_m, k: string) => `%${mapping.get(k) ?? k}`);
        const actual = Object.entries(prefetch).find(([, v]) => v === rewritten)?.[0];
        if (actual) {
          mapping.set(stdKey, actual);
          changed = true;
        }
      }
    }
    const standardActuals = new Set(mapping.values());
    for (const [key, value] of Object.entries(prefetch)) {
      if (!standardActuals.has(key)) warnings.push(`${String(s['id'])}: prefetch \`${key}\` (${String(value)}) is not a standard ${String(s['hook'])} expression`);
    }
  }
  return { result: 'pass', errors: [], ...(warnings.length > 0 ? { notes: warnings } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// §4.1 Requests (the tester's bodies)
// ---------------------------------------------------------------------------------------------------------------

const CONTEXT_KEYS: Record<string, { required: string[]; optional: string[] }> = {
  'appointment-book': { required: ['userId', 'patientId', 'appointments'], optional: ['encounterId'] },
  'encounter-start': { required: ['userId', 'patientId', 'encounterId'], optional: [] },
  'encounter-discharge': { required: ['userId', 'patientId', 'encounterId'], optional: [] },
  'order-select': { required: ['userId', 'patientId', 'selections', 'draftOrders'], optional: ['encounterId'] },
  'order-sign': { required: ['userId', 'patientId', 'draftOrders'], optional: ['encounterId'] },
  'order-dispatch': { required: ['patientId', 'dispatchedOrders', 'performer'], optional: ['fulfillmentTasks'] },
};
const TOP_LEVEL_KEYS = new Set(['hook', 'hookInstance', 'fhirServer', 'fhirAuthorization', 'context', 'prefetch', 'extension']);

function bundleErrors(bundle: unknown, at: string, allowed: ReadonlySet<string> | undefined): { errors: string[]; resources: Json[] } {
  const errors: string[] = [];
  if (!isObject(bundle) || bundle['resourceType'] !== 'Bundle') return { errors: [`${at} is not a Bundle`], resources: [] };
  if (bundle['type'] !== 'collection') errors.push(`${at}.type must be collection (profile-bundle-base)`);
  if (bundle['total'] !== undefined) errors.push(`${at}.total is not allowed (profile-bundle-base)`);
  const entries = objects(bundle['entry']);
  if (entries.length === 0) errors.push(`${at}.entry needs at least one entry`);
  const resources: Json[] = [];
  entries.forEach((e, i) => {
    if (!isString(e['fullUrl'])) errors.push(`${at}.entry[${i}].fullUrl is required (profile-bundle-base)`);
    for (const k of ['search', 'request', 'response']) if (k in e) errors.push(`${at}.entry[${i}].${k} is not allowed (profile-bundle-base)`);
    const r = e['resource'];
    if (!isObject(r)) {
      errors.push(`${at}.entry[${i}].resource is required`);
      return;
    }
    if (!nonEmptyString(r['id'])) errors.push(`${at}.entry[${i}].resource has no id`);
    if (allowed && !allowed.has(String(r['resourceType']))) errors.push(`${at}.entry[${i}]: ${String(r['resourceType'])} is not allowed here`);
    resources.push(r);
  });
  return { errors, resources };
}

/**
 * crd_v221_service_request_required_fields_validation (§4.1) for one body: the CRDHooksRequest model's required
 * fields and types, the hook's context keys, local references, the context Bundles and their resources' profiles.
 * Unknown keys a follow-up added are not reported (the kit removes those messages).
 */
export function requestErrors(hook: string, request: Json, addedKey?: string): string[] {
  const errors: string[] = [];
  if (request['hook'] !== hook) errors.push(`hook is ${JSON.stringify(request['hook'])}, not ${hook}`);
  if (!isString(request['hookInstance']) || !UUID.test(request['hookInstance'])) errors.push('hookInstance must be a UUID');
  for (const k of Object.keys(request)) if (!TOP_LEVEL_KEYS.has(k) && k !== addedKey) errors.push(`Unrecognized property '${k}'`);
  if ('fhirServer' in request && (!isString(request['fhirServer']) || !HTTP_URL.test(request['fhirServer']))) errors.push('fhirServer must be a URL');
  const auth = request['fhirAuthorization'];
  if (auth !== undefined) {
    if (!('fhirServer' in request)) errors.push('fhirServer is required when fhirAuthorization is present (cds-r-2)');
    if (!isObject(auth)) errors.push('fhirAuthorization must be an object');
    else {
      if (!nonEmptyString(auth['access_token'])) errors.push('fhirAuthorization.access_token is required');
      if (auth['token_type'] !== 'Bearer') errors.push('fhirAuthorization.token_type is required and must be "Bearer"');
      if (!Number.isInteger(auth['expires_in'])) errors.push('fhirAuthorization.expires_in is required (integer)');
      if (!isString(auth['scope'])) errors.push('fhirAuthorization.scope is required');
      if (!isString(auth['subject'])) errors.push('fhirAuthorization.subject is required');
    }
  }
  const prefetch = request['prefetch'];
  if (prefetch !== undefined) {
    if (!isObject(prefetch)) errors.push('prefetch must be an object');
    else for (const [k, v] of Object.entries(prefetch)) if (v !== null && !(isObject(v) && isString(v['resourceType']))) errors.push(`prefetch.${k} must be a resource or null`);
  }
  const extension = request['extension'];
  if (extension !== undefined && isObject(extension)) {
    const config = extension['davinci-crd.configuration'];
    if (config !== undefined) {
      if (!isObject(config)) errors.push('extension.davinci-crd.configuration must be an object');
      else for (const [k, v] of Object.entries(config)) if (typeof v !== 'boolean' && !Number.isInteger(v)) errors.push(`davinci-crd.configuration.${k} must be boolean or integer`);
    }
  }
  const context = request['context'];
  if (!isObject(context)) return [...errors, 'context is required'];
  const keys = CONTEXT_KEYS[hook];
  if (!keys) return [...errors, `unknown hook ${hook}`];
  for (const k of keys.required) if (!(k in context)) errors.push(`context.${k} is required for ${hook}`);
  for (const k of Object.keys(context)) if (![...keys.required, ...keys.optional].includes(k) && k !== addedKey) errors.push(`Unrecognized property 'context.${k}'`);
  if ('patientId' in context && (!isString(context['patientId']) || !FHIR_ID.test(context['patientId']))) errors.push('context.patientId must be a FHIR id');
  if ('encounterId' in context && (!isString(context['encounterId']) || !FHIR_ID.test(context['encounterId']))) errors.push('context.encounterId must be a FHIR id');
  if (hook === 'order-dispatch') {
    const performer = LOCAL_REFERENCE.exec(isString(context['performer']) ? context['performer'] : '');
    if (!performer || !['Practitioner', 'PractitionerRole'].includes(performer[1]!)) errors.push('context.performer must be a local reference to a Practitioner or PractitionerRole');
    const orders = list(context['dispatchedOrders']);
    if (orders.length === 0) errors.push('context.dispatchedOrders needs at least one reference');
    for (const o of orders) {
      const m = LOCAL_REFERENCE.exec(isString(o) ? o : '');
      if (!m || !ORDER_TYPES.has(m[1]!)) errors.push(`context.dispatchedOrders: ${JSON.stringify(o)} is not a local reference to an order`);
    }
    objects(context['fulfillmentTasks']).forEach((t, i) => errors.push(...taskDispatchErrors(t, `context.fulfillmentTasks[${i}]`)));
    if ('fulfillmentTasks' in context && !Array.isArray(context['fulfillmentTasks'])) errors.push('context.fulfillmentTasks must be an array');
  } else {
    const user = LOCAL_REFERENCE.exec(isString(context['userId']) ? context['userId'] : '');
    if (!user || !['Practitioner', 'PractitionerRole', 'Patient', 'RelatedPerson'].includes(user[1]!)) errors.push('context.userId must be a local reference (Practitioner, PractitionerRole, Patient or RelatedPerson)');
  }
  if ('draftOrders' in context) {
    const { errors: e, resources } = bundleErrors(context['draftOrders'], 'context.draftOrders', ORDER_TYPES);
    errors.push(...e);
    for (const r of resources) errors.push(...profileErrors(r).map((m) => `context.draftOrders ${label(r)}: ${m}`));
    if (hook === 'order-select') {
      const present = new Set(resources.map(label));
      for (const s of list(context['selections'])) {
        if (!isString(s) || !LOCAL_REFERENCE.test(s)) errors.push(`context.selections: ${JSON.stringify(s)} is not a local reference`);
        else if (!present.has(s)) errors.push(`context.selections: ${s} is not in draftOrders`);
      }
    }
  }
  if ('appointments' in context) {
    const { errors: e, resources } = bundleErrors(context['appointments'], 'context.appointments', new Set(['Appointment']));
    errors.push(...e);
    for (const r of resources) errors.push(...profileErrors(r).map((m) => `context.appointments ${label(r)}: ${m}`));
  }
  return errors;
}

function taskDispatchErrors(t: Json, at: string): string[] {
  const errors: string[] = [];
  if (!nonEmptyString(t['id'])) errors.push(`${at} has no id`);
  if (t['resourceType'] !== 'Task') errors.push(`${at} is not a Task`);
  if (t['status'] !== 'draft') errors.push(`${at}.status must be draft (profile-task-dispatch)`);
  if (t['intent'] !== 'order') errors.push(`${at}.intent must be order (profile-task-dispatch)`);
  if (t['code'] !== undefined && !(isObject(t['code']) && objects(t['code']['coding']).some((c) => c['system'] === 'http://hl7.org/fhir/CodeSystem/task-code' && c['code'] === 'fulfill'))) errors.push(`${at}.code must be task-code#fulfill`);
  if (typeOfRef(t['focus']) !== 'ServiceRequest') errors.push(`${at}.focus is required (Reference(CRDServiceRequest))`);
  if (typeOfRef(t['for']) !== 'Patient') errors.push(`${at}.for is required (Reference(CRDPatient))`);
  if (t['owner'] === undefined && t['location'] === undefined) errors.push(`${at}: crd-tsk-d1 needs owner or location`);
  return errors;
}

/** crd_v221_service_request_required_fields_validation over a hook's exchanges. */
export function requestRequiredFields(exchanges: readonly Exchange[]): Outcome {
  if (exchanges.length === 0) return skip('No requests were made');
  const errors = exchanges.flatMap((e, i) => requestErrors(e.hook, e.request, e.addedKey).map((m) => `${where(e, i)}: ${m}`));
  return outcome(errors);
}

// ---------------------------------------------------------------------------------------------------------------
// Resource profiles (the parts of the CRD 2.2.1 profiles these resources exercise; no FHIR validator here)
// ---------------------------------------------------------------------------------------------------------------

const requireFields = (r: Json, fields: string[], profile: string): string[] => fields.filter((f) => blank(r[f])).map((f) => `${f} is required (${profile})`);
const requireChoice = (r: Json, prefix: string, profile: string): string[] => (Object.keys(r).some((k) => k.startsWith(prefix) && k.length > prefix.length) ? [] : [`${prefix}[x] is required (${profile})`]);
const referenceTo = (r: Json, field: string, types: string[], profile: string): string[] => {
  const t = typeOfRef(r[field]);
  return t && !types.includes(t) ? [`${field} must reference ${types.join(' | ')}, not ${t} (${profile})`] : [];
};

/** The CRD 2.2.1 profile a resource is checked against (structure_definition_map('2.2.1')), by hand. */
export function profileErrors(r: Json): string[] {
  const type = String(r['resourceType']);
  const errors: string[] = [];
  for (const e of list(r['extension'])) if (!isObject(e) || !isString(e['url'])) errors.push('every extension needs a url');
  for (const e of extensionsOf(r, COVERAGE_INFO_URL)) errors.push(...coverageInformationExtensionErrors(e));
  switch (type) {
    case 'ServiceRequest': {
      const p = 'profile-servicerequest';
      errors.push(...requireFields(r, ['status', 'intent', 'code', 'subject', 'authoredOn', 'requester'], p), ...referenceTo(r, 'subject', ['Patient'], p), ...referenceTo(r, 'requester', ['Practitioner', 'PractitionerRole'], p));
      break;
    }
    case 'DeviceRequest': {
      const p = 'profile-devicerequest';
      errors.push(...requireFields(r, ['status', 'intent', 'subject', 'authoredOn', 'requester'], p), ...requireChoice(r, 'code', p), ...referenceTo(r, 'subject', ['Patient'], p), ...referenceTo(r, 'requester', ['Practitioner', 'PractitionerRole'], p));
      break;
    }
    case 'MedicationRequest': {
      const p = 'profile-medicationrequest';
      errors.push(...requireFields(r, ['status', 'intent', 'subject', 'authoredOn', 'requester'], p), ...requireChoice(r, 'medication', p), ...referenceTo(r, 'subject', ['Patient'], p), ...referenceTo(r, 'requester', ['Practitioner'], p));
      break;
    }
    case 'CommunicationRequest': {
      const p = 'profile-communicationrequest';
      errors.push(...requireFields(r, ['status', 'basedOn', 'subject', 'payload', 'authoredOn', 'requester'], p), ...referenceTo(r, 'subject', ['Patient'], p));
      objects(r['payload']).forEach((pl, i) => {
        if (!objects(pl['extension']).some((e) => String(e['url']).endsWith('extension-CommunicationRequest.payload.content') && isObject(e['valueCodeableConcept']))) errors.push(`payload[${i}] needs the payload.content CodeableConcept extension (${p})`);
      });
      break;
    }
    case 'NutritionOrder': {
      const p = 'profile-nutritionorder';
      errors.push(...requireFields(r, ['status', 'intent', 'patient', 'dateTime', 'orderer'], p), ...referenceTo(r, 'patient', ['Patient'], p));
      break;
    }
    case 'VisionPrescription': {
      const p = 'profile-visionprescription';
      errors.push(...requireFields(r, ['status', 'created', 'patient', 'dateWritten', 'prescriber', 'lensSpecification'], p), ...referenceTo(r, 'patient', ['Patient'], p));
      break;
    }
    case 'Appointment': {
      const p = isObject(r['basedOn']) || list(r['basedOn']).length > 0 ? 'profile-appointment-with-order' : 'profile-appointment-no-order';
      errors.push(...requireFields(r, ['status', 'participant'], p));
      const requested = objects(r['requestedPeriod']);
      if (r['start'] === undefined && !requested.some((x) => x['start'] !== undefined)) errors.push(`crd-apt1: start or requestedPeriod.start (${p})`);
      if (r['end'] === undefined && !requested.some((x) => x['end'] !== undefined)) errors.push(`crd-apt2: end or requestedPeriod.end (${p})`);
      const participants = objects(r['participant']);
      if (participants.filter((x) => typeOfRef(x['actor']) === 'Patient').length !== 1) errors.push(`participant:Patient 1..1 (${p})`);
      const pprf = participants.filter((x) => objects(x['type']).some((t) => objects(t['coding']).some((c) => c['code'] === 'PPRF')));
      if (pprf.length === 0) errors.push(`participant:PrimaryPerformer 1..* (${p})`);
      for (const x of pprf) if (!['Practitioner', 'PractitionerRole', 'Location'].includes(typeOfRef(x['actor']) ?? '')) errors.push(`participant:PrimaryPerformer.actor must be a Practitioner, PractitionerRole or Location (${p})`);
      for (const b of objects(r['basedOn'])) {
        const t = typeOfRef(b);
        if (t && t !== 'ServiceRequest') errors.push(`basedOn must reference a ServiceRequest, not ${t} (${p})`);
        const alternate = objects(b['extension']).find((e) => e['url'] === 'http://hl7.org/fhir/StructureDefinition/alternate-reference');
        const altType = alternate ? typeOfRef(alternate['valueReference']) : undefined;
        if (alternate && !['MedicationRequest', 'DeviceRequest'].includes(altType ?? '')) errors.push(`basedOn alternate-reference must reference a MedicationRequest or DeviceRequest (${p})`);
      }
      break;
    }
    case 'Encounter':
      errors.push(...requireFields(r, ['status', 'class', 'subject'], 'profile-encounter'));
      break;
    case 'Coverage': {
      const p = 'profile-coverage';
      errors.push(...requireFields(r, ['status', 'beneficiary', 'payor'], p), ...referenceTo(r, 'beneficiary', ['Patient'], p));
      break;
    }
    case 'Task':
      errors.push(...requireFields(r, ['status', 'intent'], 'profile-taskquestionnaire'));
      break;
    default:
      break;
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------------------------
// §5 ext-coverage-information
// ---------------------------------------------------------------------------------------------------------------

const CODES: Record<string, ReadonlySet<string>> = {
  covered: new Set(['covered', 'not-covered', 'conditional', 'indeterminate']),
  'pa-needed': new Set(['no-auth', 'auth-needed', 'satisfied', 'performpa', 'conditional', 'indeterminate']),
  'doc-needed': new Set(['clinical', 'admin', 'patient', 'conditional', 'indeterminate']),
  'doc-purpose': new Set(['withpa', 'withclaim', 'withorder', 'retain-doc', 'OTH']),
  'info-needed': new Set(['performer', 'location', 'timeframe', 'contract-window', 'detail-code', 'OTH']),
};
const VALUE_TYPE: Record<string, string> = {
  coverage: 'valueReference', covered: 'valueCode', 'pa-needed': 'valueCode', 'doc-needed': 'valueCode', 'doc-purpose': 'valueCode', 'info-needed': 'valueCode',
  billingCode: 'valueCoding', reason: 'valueCodeableConcept', dependency: 'valueReference', questionnaire: 'valueCanonical', date: 'valueDate',
  'coverage-assertion-id': 'valueString', 'satisfied-pa-id': 'valueString', contact: 'valueContactDetail', 'expiry-date': 'valueDate',
};
const CARDINALITY: Record<string, [number, number]> = {
  coverage: [1, 1], covered: [1, 1], 'pa-needed': [0, 1], date: [1, 1], 'coverage-assertion-id': [1, 1], 'satisfied-pa-id': [0, 1], 'expiry-date': [0, 1],
};
const ASSERTION_REASONS = new Set(['gold-card', 'no-member-found', 'no-active-coverage', 'coverage-not-found', 'auth-out-network', 'technical']);
const valueKeys = (e: Json): string[] => Object.keys(e).filter((k) => k.startsWith('value'));

/** One ext-coverage-information instance: sub-extension cardinalities, value types, required bindings, q1–q9. */
export function coverageInformationExtensionErrors(ext: Json): string[] {
  const errors: string[] = [];
  if (valueKeys(ext).length > 0) errors.push('the complex extension must not have a value[x]');
  const all = objects(ext['extension']);
  for (const [url, [min, max]] of Object.entries(CARDINALITY)) {
    const n = subs(ext, url).length;
    if (n < min || n > max) errors.push(`sub-extension \`${url}\` occurs ${n} times (allowed ${min}..${max})`);
  }
  for (const s of all) {
    const url = String(s['url']);
    if (url === 'detail') {
      if (valueKeys(s).length > 0) errors.push('detail must not have a value[x]');
      const inner = (u: string): Json[] => subs(s, u);
      for (const u of ['category', 'code', 'value']) if (inner(u).length !== 1) errors.push(`detail.${u} occurs ${inner(u).length} times (1..1)`);
      if (inner('qualification').length > 1) errors.push('detail.qualification 0..1');
      const category = inner('category')[0];
      if (category && !['cat-limitation', 'cat-decisional', 'cat-other'].includes(String(category['valueCode']))) errors.push(`detail.category ${String(category['valueCode'])} is not in CRDCoverageDetailCategories`);
      const code = inner('code')[0];
      if (code && !isObject(code['valueCodeableConcept'])) errors.push('detail.code needs valueCodeableConcept');
      const value = inner('value')[0];
      if (value && !['valueBoolean', 'valueString', 'valueUrl', 'valueQuantity', 'valuePeriod'].includes(valueKeys(value)[0] ?? '')) errors.push('detail.value must be boolean | string | url | SimpleQuantity | Period');
      continue;
    }
    const expected = VALUE_TYPE[url];
    if (!expected) {
      errors.push(`unknown sub-extension \`${url}\``);
      continue;
    }
    const keys = valueKeys(s);
    if (keys.length !== 1 || keys[0] !== expected) {
      errors.push(`\`${url}\` needs exactly one ${expected}, has ${keys.join(', ') || 'none'}`);
      continue;
    }
    const v = s[expected];
    const codes = CODES[url];
    if (codes && !(isString(v) && codes.has(v))) errors.push(`\`${url}\` ${JSON.stringify(v)} is not in its required value set`);
    if ((url === 'date' || url === 'expiry-date') && !(isString(v) && FHIR_DATE.test(v))) errors.push(`\`${url}\` ${JSON.stringify(v)} is not a FHIR date`);
    if ((url === 'coverage-assertion-id' || url === 'satisfied-pa-id') && !nonEmptyString(v)) errors.push(`\`${url}\` must be a non-empty string`);
    if (url === 'coverage') {
      if (!isObject(v) || (v['reference'] === undefined && v['identifier'] === undefined && v['display'] === undefined)) errors.push('`coverage` must be a Reference');
      else if (v['reference'] !== undefined && typeOfRef(v) !== 'Coverage') errors.push(`\`coverage\` must reference a Coverage, not ${text(v['reference'])}`);
    }
    if (url === 'billingCode' && !(isObject(v) && (isString(v['code']) || isString(v['system'])))) errors.push('`billingCode` must be a Coding');
    if (url === 'reason' && !(isObject(v) && (isString(v['text']) || objects(v['coding']).length > 0))) errors.push('`reason` must be a CodeableConcept with text or a coding');
    if (url === 'dependency') {
      const t = typeOfRef(v);
      if (t && !['Appointment', ...ORDER_TYPES].includes(t)) errors.push(`\`dependency\` must reference an order or appointment, not ${t}`);
    }
    if (url === 'questionnaire' && !(isString(v) && v.length > 0)) errors.push('`questionnaire` must be a canonical');
  }
  const values = (url: string): unknown[] => subs(ext, url).map((s) => s[VALUE_TYPE[url] ?? 'valueCode']);
  const has = (url: string): boolean => subs(ext, url).length > 0;
  const covered = values('covered');
  const pa = values('pa-needed');
  const doc = values('doc-needed');
  if (has('questionnaire') && !has('doc-needed')) errors.push('crd-ci-q1: questionnaire is only allowed when doc-needed exists');
  if (covered.includes('not-covered') && has('pa-needed')) errors.push('crd-ci-q2: covered is not-covered, so pa-needed must not exist');
  if ([...covered, ...pa, ...doc].includes('conditional') && !has('info-needed')) errors.push('crd-ci-q3: a conditional covered / pa-needed / doc-needed needs info-needed');
  if (pa.some((v) => v === 'satisfied' || v === 'noauth' || v === 'not-covered') && values('doc-purpose').includes('withpa')) errors.push('crd-ci-q4: doc-purpose withpa with pa-needed satisfied / not-covered');
  if (pa.includes('satisfied') !== has('satisfied-pa-id')) errors.push('crd-ci-q5: satisfied-pa-id exists if and only if pa-needed is satisfied');
  if (values('info-needed').includes('OTH') && !has('reason')) errors.push('crd-ci-q6: info-needed OTH needs a reason');
  const reasons = values('reason').filter(isObject);
  if (reasons.length > 0 && !reasons.some((r) => isString(r['text'])) && !reasons.some((r) => objects(r['coding']).some((c) => c['system'] === CRD_TEMP_SYSTEM && ASSERTION_REASONS.has(String(c['code']))))) {
    errors.push('crd-ci-q7: a reason not from coverageAssertionReasons needs text');
  }
  if (values('doc-purpose').some((v) => v !== 'conditional') && !has('reason')) errors.push('crd-ci-q8: doc-purpose needs a reason');
  if ([...covered, ...pa, ...doc].includes('indeterminate') && !has('reason')) errors.push('crd-ci-q9: indeterminate needs a reason');
  return errors;
}

// ---------------------------------------------------------------------------------------------------------------
// §4.2 / §6.2 Response models
// ---------------------------------------------------------------------------------------------------------------

const RESPONSE_KEYS = new Set(['cards', 'systemActions', 'extension']);
const CARD_KEYS = new Set(['uuid', 'summary', 'detail', 'indicator', 'source', 'suggestions', 'selectionBehavior', 'overrideReasons', 'links', 'extension']);
const SOURCE_KEYS = new Set(['label', 'url', 'icon', 'topic', 'extension']);
const SUGGESTION_KEYS = new Set(['label', 'uuid', 'isRecommended', 'actions', 'actionSelectionBehavior', 'extension']);
const ACTION_KEYS = new Set(['type', 'description', 'resource', 'resourceId', 'extension']);
const LINK_KEYS = new Set(['label', 'url', 'type', 'appContext', 'autolaunchable', 'extension']);
const unknownKeys = (o: Json, known: ReadonlySet<string>, at: string): string[] => Object.keys(o).filter((k) => !known.has(k)).map((k) => `${at}: Unrecognized property '${k}'`);

function actionErrors(a: Json, at: string): string[] {
  const errors = unknownKeys(a, ACTION_KEYS, at);
  if (!['create', 'update', 'delete'].includes(String(a['type']))) errors.push(`${at}.type must be create | update | delete`);
  if (!nonEmptyString(a['description'])) errors.push(`${at}.description is required (CRDHooksResponseBase, cds-resp-5)`);
  if (a['resource'] !== undefined && !(isObject(a['resource']) && nonEmptyString(a['resource']['resourceType']))) errors.push(`${at}.resource must be a FHIR resource`);
  if (a['resourceId'] !== undefined && !isString(a['resourceId'])) errors.push(`${at}.resourceId must be a string`);
  if ((a['type'] === 'create' || a['type'] === 'update') && !isObject(a['resource'])) errors.push(`${at}: a ${String(a['type'])} needs a resource`);
  return errors;
}

/** One card against CRDHooksResponseBase (+ the kit's corrections: summary < 140, suggestion uuid required). */
export function cardBaseErrors(card: Json, at: string): string[] {
  const errors = unknownKeys(card, CARD_KEYS, at);
  if (!isString(card['uuid']) || !UUID.test(card['uuid'])) errors.push(`${at}.uuid is required and must be a UUID`);
  if (!nonEmptyString(card['summary'])) errors.push(`${at}.summary is required`);
  else if (card['summary'].length >= 140) errors.push(`${at}.summary has ${card['summary'].length} characters (must be < 140)`);
  if (card['detail'] !== undefined && !isString(card['detail'])) errors.push(`${at}.detail must be a string`);
  if (!['info', 'warning', 'critical'].includes(String(card['indicator']))) errors.push(`${at}.indicator must be info | warning | critical`);
  const source = card['source'];
  if (!isObject(source)) errors.push(`${at}.source is required`);
  else {
    errors.push(...unknownKeys(source, SOURCE_KEYS, `${at}.source`));
    if (!nonEmptyString(source['label'])) errors.push(`${at}.source.label is required`);
    for (const k of ['url', 'icon']) if (source[k] !== undefined && !(isString(source[k]) && HTTP_URL.test(source[k]))) errors.push(`${at}.source.${k} must be an absolute URL`);
    const topic = source['topic'];
    if (!isObject(topic)) errors.push(`${at}.source.topic is required (CRDHooksResponseBase)`);
    else if (!nonEmptyString(topic['code']) || !nonEmptyString(topic['system'])) errors.push(`${at}.source.topic needs code and system`);
    else if (topic['system'] === CARD_TYPE_SYSTEM && !CARD_TYPES.has(topic['code'])) errors.push(`${at}.source.topic ${topic['code']} is not a code of ${CARD_TYPE_SYSTEM}`);
  }
  const suggestions = card['suggestions'];
  if (suggestions !== undefined) {
    if (!Array.isArray(suggestions)) errors.push(`${at}.suggestions must be an array`);
    objects(suggestions).forEach((s, i) => {
      const sat = `${at}.suggestions[${i}]`;
      errors.push(...unknownKeys(s, SUGGESTION_KEYS, sat));
      if (!nonEmptyString(s['label'])) errors.push(`${sat}.label is required`);
      if (!isString(s['uuid']) || !UUID.test(s['uuid'])) errors.push(`${sat}.uuid is required and must be a UUID (resp-3)`);
      if (s['isRecommended'] !== undefined && typeof s['isRecommended'] !== 'boolean') errors.push(`${sat}.isRecommended must be a boolean`);
      if (s['actionSelectionBehavior'] !== undefined && !['all', 'any', 'at-most-one'].includes(text(s['actionSelectionBehavior']))) errors.push(`${sat}: cds-resp-7`);
      if (s['actions'] !== undefined && !Array.isArray(s['actions'])) errors.push(`${sat}.actions must be an array`);
      objects(s['actions']).forEach((a, j) => errors.push(...actionErrors(a, `${sat}.actions[${j}]`)));
    });
    if (list(suggestions).length > 0 && card['selectionBehavior'] === undefined) errors.push(`${at}: cds-resp-6 suggestions need selectionBehavior`);
  }
  if (card['selectionBehavior'] !== undefined && !['at-most-one', 'any'].includes(text(card['selectionBehavior']))) errors.push(`${at}.selectionBehavior must be at-most-one | any`);
  if (card['selectionBehavior'] === 'at-most-one' && objects(suggestions).filter((s) => s['isRecommended'] === true).length > 1) errors.push(`${at}: cds-resp-1`);
  objects(card['overrideReasons']).forEach((o, i) => {
    if (!nonEmptyString(o['display'])) errors.push(`${at}.overrideReasons[${i}]: cds-resp-4 display is required`);
    if (!isString(o['code'])) errors.push(`${at}.overrideReasons[${i}].code is required`);
  });
  objects(card['links']).forEach((l, i) => {
    const lat = `${at}.links[${i}]`;
    errors.push(...unknownKeys(l, LINK_KEYS, lat));
    if (!nonEmptyString(l['label'])) errors.push(`${lat}.label is required`);
    if (!isString(l['url']) || !HTTP_URL.test(l['url'])) errors.push(`${lat}.url must be an absolute URL`);
    if (!['absolute', 'smart'].includes(String(l['type']))) errors.push(`${lat}.type is required (absolute | smart)`);
    if (l['type'] !== 'smart' && l['appContext'] !== undefined) errors.push(`${lat}: cds-resp-3 appContext only on smart links`);
  });
  return errors;
}

/** A whole response body against CRDHooksResponseBase. */
export function responseBaseErrors(body: unknown): string[] {
  if (!isObject(body)) return ['the response body is not a JSON object'];
  const errors = unknownKeys(body, RESPONSE_KEYS, 'response');
  if (!Array.isArray(body['cards'])) errors.push('response.cards is required (array)');
  objects(body['cards']).forEach((c, i) => errors.push(...cardBaseErrors(c, `cards[${i}]`)));
  if (body['systemActions'] !== undefined && !Array.isArray(body['systemActions'])) errors.push('response.systemActions must be an array');
  objects(body['systemActions']).forEach((a, i) => errors.push(...actionErrors(a, `systemActions[${i}]`)));
  return errors;
}

/** crd_v221_service_response_validation (§4.2). */
export function serviceResponseValidation(exchanges: readonly Exchange[]): Outcome {
  if (exchanges.length === 0) return skip('No requests were made');
  if (ok(exchanges).length === 0) return skip('No request returned 200');
  const errors: string[] = [];
  const notes: string[] = [];
  exchanges.forEach((e, i) => {
    if (e.status !== 200) {
      notes.push(`${where(e, i)} answered ${e.status}: ${e.text.slice(0, 300)}`);
      return;
    }
    if (e.response === undefined) errors.push(`${where(e, i)}: the response is not JSON`);
    else errors.push(...responseBaseErrors(e.response).map((m) => `${where(e, i)}: ${m}`));
  });
  return outcome(errors, notes);
}

// Per response type ---------------------------------------------------------------------------------------------

/** The Launch SMART card model: the IG's (suggestions 1..*, no actions) or the newest kit's (FHIR-57471: none). */
export type LaunchSmartGeneration = 'ig-model' | 'kit-newest';

function linksAll(card: Json, type: string, at: string, model: string): string[] {
  const links = objects(card['links']);
  if (links.length === 0) return [`${at}: links 1..* (${model})`];
  return links.filter((l) => l['type'] !== type).map((_l, i) => `${at}.links[${i}].type must be ${type} (${model})`);
}

export function externalReferenceErrors(card: Json, at: string): string[] {
  const m = 'CRDHooksResponse-externalReference';
  return [
    ...cardBaseErrors(card, at),
    ...(blank(card['suggestions']) ? [] : [`${at}: suggestions 0..0 (${m})`]),
    ...linksAll(card, 'absolute', at, m),
    ...objects(card['links']).filter((l) => l['appContext'] !== undefined).map(() => `${at}: links.appContext 0..0 (${m})`),
  ];
}

export function instructionsErrors(card: Json, at: string): string[] {
  const m = 'CRDHooksResponse-instructions';
  return [
    ...cardBaseErrors(card, at),
    ...(nonEmptyString(card['detail']) ? [] : [`${at}: detail 1..1 (${m})`]),
    ...(blank(card['suggestions']) ? [] : [`${at}: suggestions 0..0 (${m})`]),
    ...(blank(card['links']) ? [] : [`${at}: links 0..0 (${m})`]),
  ];
}

export function launchSmartErrors(card: Json, at: string, generation: LaunchSmartGeneration): string[] {
  const m = 'CRDHooksResponse-launchSMART';
  const errors = [...cardBaseErrors(card, at), ...linksAll(card, 'smart', at, m)];
  const suggestions = objects(card['suggestions']);
  if (generation === 'kit-newest') {
    if (suggestions.length > 0) errors.push(`${at}: Suggestions are prohibited in Launch SMART App cards (kit correction FHIR-57471)`);
  } else {
    if (suggestions.length === 0) errors.push(`${at}: suggestions 1..* (${m}, IG 2.2.1)`);
    suggestions.forEach((s, i) => {
      if (!blank(s['actions'])) errors.push(`${at}.suggestions[${i}].actions 0..0 (${m}, IG 2.2.1)`);
    });
  }
  return errors;
}

function orderResourceErrors(resource: Json, at: string, extraTypes: ReadonlySet<string> = new Set()): string[] {
  const type = String(resource['resourceType']);
  if (!ORDER_TYPES.has(type) && type !== 'Appointment' && !extraTypes.has(type)) return [`${at}: ${type} is not an order type`];
  return profileErrors(resource).map((m) => `${at} ${label(resource)}: ${m}`);
}

/** Propose Alternate Request (crd-respar-1 + the kit's overrides; §6.2). */
export function alternateRequestErrors(card: Json, at: string): string[] {
  const m = 'CRDHooksResponse-alternateRequest';
  const errors = cardBaseErrors(card, at);
  const suggestions = objects(card['suggestions']);
  if (suggestions.length === 0) errors.push(`${at}: suggestions 1..* (${m})`);
  if (!blank(card['links'])) errors.push(`${at}: links 0..0 (${m})`);
  suggestions.forEach((s, i) => {
    const sat = `${at}.suggestions[${i}]`;
    const actions = objects(s['actions']);
    const updates = actions.filter((a) => a['type'] === 'update');
    const creates = actions.filter((a) => a['type'] === 'create' && a['resource'] !== undefined && a['resourceId'] === undefined);
    const deletes = actions.filter((a) => a['type'] === 'delete' && a['resourceId'] !== undefined && a['resource'] === undefined);
    const respar1 = (actions.length === 1 && updates.length === 1) || (actions.length === 2 && creates.length === 1 && deletes.length === 1);
    if (!respar1) errors.push(`${sat}: crd-respar-1 needs exactly one update, or one create plus one delete`);
    actions.forEach((a, j) => {
      const aat = `${sat}.actions[${j}]`;
      if (a['resourceId'] !== undefined && !(isString(a['resourceId']) && LOCAL_REFERENCE.test(a['resourceId']))) errors.push(`${aat}.resourceId must be a local reference Type/id`);
      const r = resourceOf(a);
      if (r) errors.push(...orderResourceErrors(r, aat));
    });
  });
  return errors;
}

/** Identify Additional Orders (§6.2). */
export function additionalOrdersErrors(card: Json, at: string): string[] {
  const m = 'CRDHooksResponse-additionalOrders';
  const errors = cardBaseErrors(card, at);
  const suggestions = objects(card['suggestions']);
  if (suggestions.length === 0) errors.push(`${at}: suggestions 1..* (${m})`);
  if (!blank(card['links'])) errors.push(`${at}: links 0..0 (${m})`);
  suggestions.forEach((s, i) => {
    const actions = objects(s['actions']);
    if (actions.length === 0) errors.push(`${at}.suggestions[${i}].actions 1..* (${m})`);
    actions.forEach((a, j) => {
      const aat = `${at}.suggestions[${i}].actions[${j}]`;
      if (a['type'] !== 'create') errors.push(`${aat}.type must be create (${m})`);
      if (a['resourceId'] !== undefined) errors.push(`${aat}.resourceId 0..0 (${m})`);
      const r = resourceOf(a);
      if (r) errors.push(...orderResourceErrors(r, aat, ADDITIONAL_ORDERS_TYPES));
    });
  });
  return errors;
}

/** Request Form Completion card (§6.2). */
export function formCompletionCardErrors(card: Json, at: string): string[] {
  const m = 'CRDHooksResponse-formCompletion';
  const errors = cardBaseErrors(card, at);
  if (objects(card['suggestions']).length === 0) errors.push(`${at}: suggestions 1..* (${m})`);
  if (!blank(card['links'])) errors.push(`${at}: links 0..0 (${m})`);
  objects(card['suggestions']).forEach((s, i) => {
    const actions = objects(s['actions']);
    if (actions.length === 0) errors.push(`${at}.suggestions[${i}].actions 1..* (${m})`);
    actions.forEach((a, j) => {
      const r = resourceOf(a);
      const aat = `${at}.suggestions[${i}].actions[${j}]`;
      if (a['type'] !== 'create') errors.push(`${aat}.type must be create`);
      if (r?.['resourceType'] === 'Questionnaire') {
        if (!nonEmptyString(r['id'])) errors.push(`${aat}: a created Questionnaire must have an id`);
      } else if (!formCompletionTask(r)) errors.push(`${aat}: must create a Task conforming to profile-taskquestionnaire`);
    });
  });
  return errors;
}

export function formCompletionActionErrors(action: Json, at: string): string[] {
  const errors = actionErrors(action, at);
  if (action['type'] !== 'create') errors.push(`${at}.type must be create`);
  if (!formCompletionTask(resourceOf(action))) errors.push(`${at}: the resource must be a Task conforming to profile-taskquestionnaire`);
  return errors;
}

export function adjustCoverageCardErrors(card: Json, at: string): string[] {
  const m = 'CRDHooksResponse-adjustCoverage';
  const errors = cardBaseErrors(card, at);
  if (!blank(card['links'])) errors.push(`${at}: links 0..0 (${m})`);
  const suggestions = objects(card['suggestions']);
  if (suggestions.length !== 1) errors.push(`${at}: exactly one suggestion (${m})`);
  for (const s of suggestions) {
    for (const a of objects(s['actions'])) {
      if (a['type'] !== 'update') errors.push(`${at}: actions must be updates of a Coverage (${m})`);
      const r = resourceOf(a);
      if (r) errors.push(...profileErrors(r).map((x) => `${at} ${label(r)}: ${x}`));
    }
  }
  return errors;
}

export function adjustCoverageActionErrors(action: Json, at: string): string[] {
  const errors = actionErrors(action, at);
  if (action['type'] !== 'update') errors.push(`${at}.type must be update`);
  const r = resourceOf(action);
  if (r) errors.push(...profileErrors(r).map((x) => `${at} ${label(r)}: ${x}`));
  return errors;
}

/**
 * The seven per-response-type tests (§4.3): every card the type's predicate selects (and, where the type has them,
 * every system action of the type) in the hook's 200 responses, validated against the type's model. Skip when there
 * is no 200 response or none of the type.
 */
export function responseTypeValidation(exchanges: readonly Exchange[], type: CardType, generation: LaunchSmartGeneration = 'kit-newest'): Outcome {
  if (ok(exchanges).length === 0) return skip('No successful hook responses');
  const errors: string[] = [];
  let found = 0;
  exchanges.forEach((e, i) => {
    if (e.status !== 200) return;
    cardsOf(e.response).forEach((card, c) => {
      if (!CARD_PREDICATES[type](card)) return;
      found++;
      const at = `${where(e, i)} cards[${c}]`;
      switch (type) {
        case 'external_reference': errors.push(...externalReferenceErrors(card, at)); break;
        case 'instructions': errors.push(...instructionsErrors(card, at)); break;
        case 'launch_smart_app': errors.push(...launchSmartErrors(card, at, generation)); break;
        case 'propose_alternate_request': errors.push(...alternateRequestErrors(card, at)); break;
        case 'companions_prerequisites': errors.push(...additionalOrdersErrors(card, at)); break;
        case 'request_form_completion': errors.push(...formCompletionCardErrors(card, at)); break;
        case 'create_update_coverage_info': errors.push(...adjustCoverageCardErrors(card, at)); break;
      }
    });
    if (type === 'request_form_completion' || type === 'create_update_coverage_info') {
      systemActionsOf(e.response).forEach((a, j) => {
        if (identifyActionType(a) !== type) return;
        found++;
        const at = `${where(e, i)} systemActions[${j}]`;
        errors.push(...(type === 'request_form_completion' ? formCompletionActionErrors(a, at) : adjustCoverageActionErrors(a, at)));
      });
    }
  });
  if (found === 0) return skip(`No ${type} responses`);
  return outcome(errors);
}

// ---------------------------------------------------------------------------------------------------------------
// §4.4 Coverage-information system actions
// ---------------------------------------------------------------------------------------------------------------

function findInBundle(bundle: unknown, type: string, id: string): Json | undefined {
  if (!isObject(bundle)) return undefined;
  return objects(bundle['entry']).map((e) => e['resource']).filter(isObject).find((r) => r['resourceType'] === type && r['id'] === id);
}
function findInPrefetch(request: Json, type: string, id: string): Json | undefined {
  const prefetch = isObject(request['prefetch']) ? request['prefetch'] : {};
  for (const v of Object.values(prefetch)) {
    if (isObject(v) && v['resourceType'] === type && v['id'] === id) return v;
    const found = findInBundle(v, type, id);
    if (found) return found;
  }
  return undefined;
}

/** The resource a coverage-information update changes, as the request (or the mock EHR) had it (hook_request_resource_resolution.rb). */
export function sourceResource(hook: string, request: Json, type: string, id: string, mockEhr: Json | undefined): Json | undefined {
  const context = isObject(request['context']) ? request['context'] : {};
  let found: Json | undefined;
  if (hook === 'appointment-book') {
    found = findInBundle(context['appointments'], type, id);
    if (!found && type === 'ServiceRequest') {
      const appointments = objects(isObject(context['appointments']) ? context['appointments']['entry'] : []).map((e) => e['resource']).filter(isObject);
      if (appointments.some((a) => objects(a['basedOn']).some((b) => refOf(b)?.split('/').slice(-2).join('/') === `${type}/${id}`))) {
        found = findInPrefetch(request, type, id) ?? findInBundle(mockEhr, type, id);
      }
    }
  } else if (hook === 'order-sign' || hook === 'order-select') {
    found = findInBundle(context['draftOrders'], type, id);
  }
  return found ?? findInPrefetch(request, type, id) ?? findInBundle(mockEhr, type, id);
}

function withoutCoverageInformation(resource: Json): Json {
  const copy = structuredClone(resource);
  if (Array.isArray(copy['extension'])) {
    copy['extension'] = (copy['extension'] as unknown[]).filter((e) => !(isObject(e) && e['url'] === COVERAGE_INFO_URL));
    if ((copy['extension'] as unknown[]).length === 0) delete copy['extension'];
  }
  return copy;
}
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize).sort((a, b) => canonical(a).localeCompare(canonical(b)));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  return value;
}

/** only_coverage_information_changed?: deep-equal once coverage-information extensions are removed (or a bare payload). */
export function onlyCoverageInformationChanged(source: Json, updated: Json): boolean {
  const stripped = withoutCoverageInformation(updated);
  if (Object.keys(stripped).every((k) => ['resourceType', 'id', 'meta'].includes(k))) return true;
  return canonical(normalize(withoutCoverageInformation(source))) === canonical(normalize(stripped));
}

/** Older generation's grouping rule (resp-32): one assertion id per coverage, distinct across coverages. */
function assertionIdErrors(resource: Json): string[] {
  const errors: string[] = [];
  const groups = new Map<string, Json[]>();
  for (const e of extensionsOf(resource, COVERAGE_INFO_URL)) {
    const cov = subs(e, 'coverage')[0];
    const key = refOf(cov?.['valueReference']) ?? '(none)';
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const assertionIds = new Set<unknown>();
  const paIds = new Set<unknown>();
  for (const [coverage, exts] of groups) {
    const ids = [...new Set(exts.map((e) => subs(e, 'coverage-assertion-id')[0]?.['valueString']))];
    const pas = [...new Set(exts.map((e) => subs(e, 'satisfied-pa-id')[0]?.['valueString']).filter((x) => x !== undefined))];
    if (ids.length !== 1) errors.push(`${label(resource)}: coverage \`${coverage}\` has ${ids.length} different coverage-assertion-ids`);
    if (pas.length > 1) errors.push(`${label(resource)}: coverage \`${coverage}\` has different satisfied-pa-ids`);
    if (assertionIds.has(ids[0])) errors.push(`${label(resource)}: extensions referencing differing coverage SHALL have distinct coverage-assertion-ids`);
    assertionIds.add(ids[0]);
    if (pas[0] !== undefined) {
      if (paIds.has(pas[0])) errors.push(`${label(resource)}: extensions referencing differing coverage SHALL have distinct satisfied-pa-ids`);
      paIds.add(pas[0]);
    }
  }
  return errors;
}

/** One coverage-information system action against CRDHooksResponse-coverageInformation and the resource's profile. */
export function coverageInformationActionErrors(action: Json, at: string): string[] {
  const errors = actionErrors(action, at);
  if (action['type'] !== 'update') errors.push(`${at}.type must be update (CRDHooksResponse-coverageInformation)`);
  if (action['resourceId'] !== undefined) errors.push(`${at}.resourceId 0..0 (CRDHooksResponse-coverageInformation)`);
  const r = resourceOf(action);
  if (!r) return [...errors, `${at}.resource is required`];
  const type = String(r['resourceType']);
  if (!COVERAGE_INFO_TARGETS.has(type)) errors.push(`${at}: ${type} is not allowed as a target for a coverage-information action`);
  if (extensionsOf(r, COVERAGE_INFO_URL).length === 0) errors.push(`${at}: crd-respci1 the resource needs a coverage-information extension`);
  errors.push(...profileErrors(r).map((m) => `${at} ${label(r)}: ${m}`));
  errors.push(...assertionIdErrors(r).map((m) => `${at}: ${m}`));
  return errors;
}

export const coverageInfoActions = (response: unknown): Json[] => systemActionsOf(response).filter((a) => identifyActionType(a) === 'coverage_information');

/** crd_v221_coverage_info_system_action_validation (§4.4). */
export function coverageInfoSystemActionValidation(exchanges: readonly Exchange[], mockEhr: Json | undefined): Outcome {
  if (ok(exchanges).length === 0) return skip('No successful hook responses were received');
  const errors: string[] = [];
  const notes: string[] = [];
  let count = 0;
  exchanges.forEach((e, i) => {
    if (e.status !== 200) return;
    coverageInfoActions(e.response).forEach((a, j) => {
      count++;
      const at = `${where(e, i)} systemActions[${j}]`;
      errors.push(...coverageInformationActionErrors(a, at));
      const r = resourceOf(a)!;
      const source = sourceResource(e.hook, e.request, String(r['resourceType']), String(r['id']), mockEhr);
      if (!source) notes.push(`${at}: could not resolve the source of ${label(r)}`);
      else if (!onlyCoverageInformationChanged(source, r)) errors.push(`${at}: ${label(r)}: resource content changed outside the coverage-information extension.`);
    });
  });
  if (count === 0) return skip('The hook responses do not contain any Coverage Information system actions.');
  return outcome(errors, notes);
}

// ---------------------------------------------------------------------------------------------------------------
// §4.5 / §4.6 Every call carries coverage information
// ---------------------------------------------------------------------------------------------------------------

function targetResources(e: Exchange, mockEhr: Json | undefined): Json[] | { unresolved: string[] } {
  const context = isObject(e.request['context']) ? e.request['context'] : {};
  const bundleResources = (b: unknown): Json[] => (isObject(b) ? objects(b['entry']).map((x) => x['resource']).filter(isObject) : []);
  if (e.hook === 'appointment-book') return bundleResources(context['appointments']).filter((r) => r['resourceType'] === 'Appointment');
  if (e.hook === 'order-dispatch') {
    const found: Json[] = [];
    const unresolved: string[] = [];
    for (const o of list(context['dispatchedOrders'])) {
      const [type, id] = String(o).split('/');
      const r = type && id ? findInPrefetch(e.request, type, id) ?? findInBundle(mockEhr, type, id) : undefined;
      if (r) found.push(r);
      else unresolved.push(String(o));
    }
    return unresolved.length > 0 ? { unresolved } : found;
  }
  return bundleResources(context['draftOrders']).filter((r) => ORDER_TYPES.has(String(r['resourceType'])));
}

/** crd_v221_all_responses_include_coverage_information / crd_v221_order_dispatch_coverage_information (§4.5, §4.6). */
export function allResponsesIncludeCoverageInformation(exchanges: readonly Exchange[], mockEhr: Json | undefined): Outcome {
  let needing = 0;
  let satisfied = 0;
  const errors: string[] = [];
  for (const [i, e] of exchanges.entries()) {
    if (e.status !== 200) continue;
    const config = isObject(e.request['extension']) && isObject(e.request['extension']['davinci-crd.configuration']) ? e.request['extension']['davinci-crd.configuration'] : {};
    if (config['coverage-info'] === false) continue;
    const targets = targetResources(e, mockEhr);
    if (!Array.isArray(targets)) return skip(`The following dispatchedOrders are not included in the Mock EHR Data input or prefetch: ${targets.unresolved.join(', ')}`);
    if (targets.every((r) => extensionsOf(r, COVERAGE_INFO_URL).length > 0)) continue;
    needing++;
    const types = new Set(targets.map((r) => String(r['resourceType'])));
    const actions = systemActionsOf(e.response);
    const good = actions.length > 0 && actions.filter((a) => a['type'] === 'update' && types.has(String(resourceOf(a)?.['resourceType']))).every((a) => extensionsOf(resourceOf(a), COVERAGE_INFO_URL).length > 0);
    if (good) satisfied++;
    else errors.push(`${where(e, i)}: no coverage-information system action`);
  }
  if (needing === 0) return skip('No hook call needed coverage information');
  if (satisfied < needing) return outcome([`${needing} successful hook calls without a coverage-information extension were made, but only ${satisfied} of the responses contained a coverage information system action.`, ...errors]);
  return outcome([]);
}

// ---------------------------------------------------------------------------------------------------------------
// §4.7 – §4.9 Card absence, configuration, unknown elements
// ---------------------------------------------------------------------------------------------------------------

/** crd_v221_coverage_information_card_absence (§4.7): both generations — no coverage-info topic, no coverage info via suggestions. */
export function coverageInformationCardAbsence(exchanges: readonly Exchange[], mockEhr: Json | undefined): Outcome {
  if (exchanges.length === 0) return skip('No requests');
  if (ok(exchanges).length === 0) return skip('No successful responses');
  const errors: string[] = [];
  exchanges.forEach((e, i) => {
    if (e.status !== 200) return;
    cardsOf(e.response).forEach((card, c) => {
      if (coverageInfoCard(card)) errors.push(`${where(e, i)} cards[${c}]: a card of type coverage-info (resp-25)`);
      for (const s of objects(card['suggestions'])) {
        for (const a of objects(s['actions'])) {
          const r = resourceOf(a);
          if (a['type'] !== 'update' || !r || extensionsOf(r, COVERAGE_INFO_URL).length === 0) continue;
          const source = sourceResource(e.hook, e.request, String(r['resourceType']), String(r['id']), mockEhr);
          const onlyCi = source ? onlyCoverageInformationChanged(source, r) : Object.keys(r).every((k) => ['resourceType', 'id', 'meta', 'extension'].includes(k));
          if (onlyCi) errors.push(`${where(e, i)} cards[${c}]: coverage information delivered through a card suggestion (resp-25)`);
        }
      }
    });
  });
  return outcome(errors);
}

/** crd_v221_coverage_info_configuration (§4.8). */
export function coverageInfoConfiguration(exchanges: readonly Exchange[], hook: string): Outcome {
  const disabled = withTag(exchanges, 'coverage-info-disabled');
  if (disabled.length === 0) return PRIMARY_HOOKS.has(hook) ? skip('No coverage-info-disabled request was sent') : omit('No coverage-info-disabled request was sent');
  const errors: string[] = [];
  disabled.forEach((e, i) => {
    const at = `coverage-info-disabled request ${i + 1}`;
    if (e.status !== 200) errors.push(`${at} answered ${e.status}`);
    if (!isObject(e.response)) {
      errors.push(`${at}: the body is not a JSON object`);
      return;
    }
    if (cardsOf(e.response).some(coverageInfoCard)) errors.push(`${at}: a coverage-info card was returned`);
    systemActionsOf(e.response).forEach((a, j) => {
      const t = identifyActionType(a);
      if (t === 'coverage_information' || t === 'request_form_completion') errors.push(`${at}: systemActions[${j}] is a ${t} action`);
    });
  });
  return outcome(errors);
}

/** crd_v221_unknown_configuration / _context / _cds_hooks_elements (§4.9). */
export function unknownElementFollowUp(exchanges: readonly Exchange[], hook: string, tag: 'unknown-configuration' | 'unknown-context' | 'unknown-element'): Outcome {
  const tagged = withTag(exchanges, tag);
  if (tagged.length === 0) return PRIMARY_HOOKS.has(hook) ? skip(`No ${tag} request was sent`) : omit(`No ${tag} request was sent`);
  const errors: string[] = [];
  tagged.forEach((e, i) => {
    const at = `${tag} request ${i + 1} (key ${e.addedKey ?? '?'})`;
    if (e.status !== 200) errors.push(`${at} answered ${e.status}: ${e.text.slice(0, 300)}`);
    else if (!isObject(e.response)) errors.push(`${at}: the body is not a JSON object`);
    else if (!(tag === 'unknown-context' ? coverageInfoResponse(e.response) : coverageInfoSystemActionResponse(e.response))) errors.push(`${at} did not contain a coverage information system action.`);
  });
  return outcome(errors);
}

// ---------------------------------------------------------------------------------------------------------------
// §4.10 Cross-hook
// ---------------------------------------------------------------------------------------------------------------

/** crd_v221_coverage_information_must_support: the sub-extensions never seen across all coverage-information actions. */
export function coverageInformationMustSupport(exchanges: readonly Exchange[]): Outcome & { missing: string[] } {
  const extensions = ok(exchanges).flatMap((e) => coverageInfoActions(e.response)).flatMap((a) => extensionsOf(resourceOf(a), COVERAGE_INFO_URL));
  if (extensions.length === 0) return { result: 'fail', errors: ['Coverage Information system action support not demonstrated'], missing: [...COVERAGE_INFO_SUB_EXTENSIONS] };
  const seen = new Set(extensions.flatMap((e) => objects(e['extension']).map((s) => String(s['url']))));
  const missing = COVERAGE_INFO_SUB_EXTENSIONS.filter((u) => !seen.has(u));
  return { ...outcome(missing.length > 0 ? [`Could not find must support sub-extensions: ${missing.join(', ')}`] : []), missing };
}

/** verify_response_without_billing_options / verify_response_without_configuration (§4.10). */
export function responseWithoutString(exchanges: readonly Exchange[], needle: string): Outcome {
  return ok(exchanges).some((e) => !JSON.stringify(e.request).includes(needle)) ? outcome([]) : skip(`Every successful request contained ${needle}`);
}

function embeddedResources(request: Json): Json[] {
  const out: Json[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      if (isString(v['resourceType'])) {
        if (v['resourceType'] === 'Bundle') objects(v['entry']).forEach((e) => walk(e['resource']));
        else out.push(v);
      } else Object.values(v).forEach(walk);
    }
  };
  walk(request['context']);
  walk(request['prefetch']);
  return out;
}

/**
 * crd_v221_supported_us_core_versions, approximated: a US Core Patient (identifier with system and value, a name with
 * family or given, gender) conforms to the Patient profile of US Core 3.1.1, 6.1.0 and 7.0.0 alike; the kit runs
 * the validator over every embedded resource and needs one conformant resource per version.
 */
export function supportedUsCoreVersions(exchanges: readonly Exchange[]): Outcome {
  const patients = ok(exchanges).flatMap((e) => embeddedResources(e.request)).filter((r) => r['resourceType'] === 'Patient');
  const conforms = patients.some((p) => objects(p['identifier']).some((i) => isString(i['system']) && isString(i['value']))
    && objects(p['name']).some((n) => isString(n['family']) || list(n['given']).length > 0)
    && ['male', 'female', 'other', 'unknown'].includes(String(p['gender'])));
  return conforms ? outcome([]) : outcome(['Support for US Core 3.1.1, 6.1.0 and 7.0.0 was not demonstrated (no conformant Patient)']);
}

const ALLOWED_EXTENSION_PREFIXES = ['http://hl7.org/fhir/us/core/StructureDefinition/', 'http://hl7.org/fhir/us/davinci-crd/StructureDefinition/', 'http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/'];

/** crd_v221_service_request_no_custom_extensions: some successful request whose resources carry only US Core / CRD / HRex extensions. */
export function noCustomExtensions(exchanges: readonly Exchange[]): Outcome {
  const clean = ok(exchanges).some((e) => embeddedResources(e.request).every((r) => objects(r['extension']).every((x) => ALLOWED_EXTENSION_PREFIXES.some((p) => String(x['url']).startsWith(p)))));
  return clean ? outcome([]) : skip('Every successful request carried custom extensions');
}

// ---------------------------------------------------------------------------------------------------------------
// §4.11 Specific coverage responses
// ---------------------------------------------------------------------------------------------------------------

/** crd_v221_coverage_info_reason / _technical_issues: every extension's covered and first reason code (and text). */
export function coverageInfoReason(exchanges: readonly Exchange[], covered: string, reason: string, requireText: boolean): Outcome {
  const actions = ok(exchanges).flatMap((e) => coverageInfoActions(e.response));
  if (actions.length === 0) return skip('No coverage-information actions');
  const errors: string[] = [];
  for (const a of actions) {
    const r = resourceOf(a)!;
    for (const e of extensionsOf(r, COVERAGE_INFO_URL)) {
      const c = subs(e, 'covered')[0]?.['valueCode'];
      if (c !== covered) errors.push(`${label(r)}: covered is ${JSON.stringify(c)}, expected ${covered}`);
      const first = subs(e, 'reason')[0]?.['valueCodeableConcept'];
      const codes = isObject(first) ? objects(first['coding']).map((x) => x['code']) : [];
      if (!codes.includes(reason)) errors.push(`${label(r)}: the first reason has codes ${JSON.stringify(codes)}, expected ${reason}`);
      if (requireText && !(isObject(first) && nonEmptyString(first['text']))) errors.push(`${label(r)}: the reason needs text`);
    }
  }
  return outcome(errors);
}

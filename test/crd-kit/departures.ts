/**
 * Where the service deliberately gets a kit result other than `pass`, and why (the clause that justifies it). The
 * suite asserts each of these exactly, so a change in the service (for better or worse) shows up as a failing test
 * and this list — and the README's "Departures from the CRD test kit", which quotes it — gets updated with it.
 */
import type { LaunchSmartGeneration, Result } from './checks';

/** Hooks the payer does not offer (their kit groups are optional): crd_v221_server_encounter_start / _discharge. */
export const NOT_OFFERED_HOOKS = ['encounter-start', 'encounter-discharge'] as const;

/**
 * Sub-extensions of ext-coverage-information the service never emits, so crd_v221_coverage_information_must_support
 * fails with exactly this list: the payer's policies decide covered / not-covered with a reason, billing code and
 * prior-authorization need; they carry no documentation rules (doc-needed, doc-purpose, questionnaire), no
 * conditional decisions (info-needed), no details, dependencies, satisfied prior authorizations, contacts or expiry.
 */
export const MUST_SUPPORT_NEVER_EMITTED: readonly string[] = [
  'doc-needed', 'doc-purpose', 'info-needed', 'detail', 'dependency', 'questionnaire', 'satisfied-pa-id', 'contact', 'expiry-date',
];

/**
 * The Launch SMART card model the service's SMART cards satisfy: the IG 2.2.1 logical model (suggestions 1..*, each
 * without actions) — which the newest kit's corrected model (FHIR-57471, suggestions prohibited) fails, and vice
 * versa. crd_v221_launch_smart_app_card_validation is asserted to pass under this generation and to fail under the
 * other one only because of the suggestions rule.
 */
export const LAUNCH_SMART_GENERATION: LaunchSmartGeneration = 'ig-model';

/** Optional per-response-type tests that skip because the service never returns that response type. */
export const RESPONSE_TYPES_NOT_OFFERED = [
  'crd_v221_additional_orders_card_validation',
  'crd_v221_request_form_completion_response_validation',
  'crd_v221_create_or_update_coverage_info_response_validation',
] as const;

/**
 * Hooks on which a sacroplasty order gets an Instructions card (the not-covered notice, no links or suggestions). On
 * order-select and order-sign the not-covered warning is the card of replacement orders (a Propose Alternate Request
 * card), so crd_v221_valid_instructions_card_received skips there.
 */
export const INSTRUCTIONS_CARD_HOOKS = ['appointment-book', 'order-dispatch'] as const;

/** Card-type tests that skip when no policy governs any order of the call (the kit's preset bodies). */
export const CARD_TESTS_WITHOUT_A_POLICY = [
  'crd_v221_external_reference_card_validation',
  'crd_v221_launch_smart_app_card_validation',
  'crd_v221_valid_instructions_card_received',
  'crd_v221_propose_alternate_request_card_validation',
] as const;

/**
 * order-select is a secondary hook: for orders no policy governs (the kit's NutritionOrder / VisionPrescription
 * bodies) the service returns nothing, so no coverage information and no follow-ups.
 */
export const ORDER_SELECT_WITHOUT_A_POLICY: Readonly<Record<string, Result>> = {
  crd_v221_coverage_info_system_action_validation: 'skip',
  crd_v221_coverage_info_configuration: 'omit',
  crd_v221_unknown_configuration: 'omit',
  crd_v221_unknown_context: 'omit',
  crd_v221_unknown_cds_hooks_elements: 'omit',
};

/** The kit's TLS test is covered by the separate TLS suite, not here. */
export const ELSEWHERE = { crd_v221_server_tls_version_stu2: 'test/tls.test.ts (TLS 1.2+ at nginx, deploy/nginx.conf)' } as const;

/**
 * The kit's no-member-found and coverage-not-found scenarios signal an unknown member only in data a payer's
 * enrollment system would reject (a member identifier `UNKNOWN-MEMBER`, a subscriberId `UNKNOWN-COVERAGE`). This
 * endpoint holds no enrollment data: it answers no-member-found when the EHR says the patient does not exist and
 * coverage-not-found when there is no Coverage (test/coverage-information.test.ts), and otherwise decides under the
 * Coverage the EHR sent. For these two groups crd_v221_coverage_info_reason is asserted to fail with exactly that:
 * the decision of the member's policy (covered on the kit body, not-covered for the sacroplasty), no reason code.
 */
export const ENROLLMENT_SCENARIOS = ['no_member_found', 'coverage_not_found'] as const;

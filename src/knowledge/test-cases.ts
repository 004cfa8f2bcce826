import Ajv from 'ajv';
import { SUPPORTED_HOOKS } from '../fhir/constants';
import type { SupportedHook } from '../fhir/constants';
import type { KnowledgeProblem } from './problems';
import { readJsonFiles, TEST_CASE_FOLDER } from './read-json-files';

/**
 * A policy test case, written by a payer's clinical informaticist next to the policy (`<policy folder>/test-cases/
 * *.json`): orders as an EHR would send them on a hook, and what the catalog should decide for each (README
 * "Policy test cases"). `npm run validate` runs every case and says which pass and which flip.
 */
export interface PolicyTestCase {
  file: string;
  name: string;
  hook: SupportedHook;
  /**
   * The orders (FHIR resources with resourceType and id): the draft orders (order-select selects all of them); on
   * appointment-book the Appointments and the orders they are based on; on order-dispatch the dispatched orders.
   */
  orders: Array<Record<string, unknown> & { resourceType: string; id: string }>;
  /** The member's Coverage; default: one active Coverage of this payer. */
  coverage?: Record<string, unknown>;
  expect: Array<{
    /** `Type/id` of one of the orders. */
    order: string;
    /** The PlanDefinition id whose decision governs the order, or null when no policy (only the default) does. */
    policy: string | null;
    /** The `covered` code decided, or null when no coverage information is expected for the order. */
    covered: string | null;
    /** The card types (source.topic codes) of the cards about this order, in any order. */
    cards: string[];
  }>;
}

const schema = {
  type: 'object',
  required: ['name', 'hook', 'orders', 'expect'],
  additionalProperties: false,
  properties: {
    $comment: { type: 'string' },
    name: { type: 'string', minLength: 1 },
    hook: { enum: [...SUPPORTED_HOOKS] },
    orders: {
      type: 'array', minItems: 1,
      items: { type: 'object', required: ['resourceType', 'id'], properties: { resourceType: { type: 'string' }, id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } } },
    },
    coverage: { type: 'object', required: ['resourceType'], properties: { resourceType: { const: 'Coverage' } } },
    expect: {
      type: 'array', minItems: 1,
      items: {
        type: 'object', required: ['order', 'policy', 'covered', 'cards'], additionalProperties: false,
        properties: {
          order: { type: 'string', pattern: '^[A-Za-z]+/[A-Za-z0-9\\-.]{1,64}$' },
          policy: { type: ['string', 'null'] },
          covered: { enum: ['covered', 'not-covered', 'conditional', 'indeterminate', null] },
          cards: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema);

/** Reads every test case under the knowledge folder; a malformed one is a problem with its file and path. */
export function readTestCases(knowledgeDir: string, problems: KnowledgeProblem[]): PolicyTestCase[] {
  const cases: PolicyTestCase[] = [];
  for (const { file, json } of readJsonFiles(knowledgeDir, problems, { onlyInFolders: [TEST_CASE_FOLDER] })) {
    if (!validate(json)) {
      for (const e of validate.errors ?? []) problems.push({ file, path: e.instancePath.slice(1).replace(/\//g, '.') || '(root)', message: e.message ?? 'invalid' });
      continue;
    }
    const c = json as unknown as Omit<PolicyTestCase, 'file'>;
    const refs = new Set(c.orders.map((o) => `${o.resourceType}/${o.id}`));
    c.expect.forEach((x, i) => {
      if (!refs.has(x.order)) problems.push({ file, path: `expect[${i}].order`, message: `${x.order} is not one of the case's orders` });
    });
    cases.push({ ...c, file });
  }
  return cases;
}

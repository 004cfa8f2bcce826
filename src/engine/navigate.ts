import * as r4Model from 'fhirpath/fhir-context/r4';

/**
 * Follows a dotted element path from a FHIR resource as FHIRPath path navigation does (FHIRPath §5.1 with the R4
 * model): each step maps every item to the element's value, arrays flatten, absent and null values drop out, and a
 * choice element (`medication` of MedicationRequest) yields whichever typed key is present
 * (`medicationCodeableConcept`, `medicationReference`). The element types come from fhirpath.js's own R4 model, so
 * the native checks of engine/condition.ts read exactly what the interpreter would.
 */
const model = r4Model as unknown as {
  choiceTypePaths: Record<string, string[] | undefined>;
  path2Type: Record<string, string | undefined>;
  type2Parent: Record<string, string | undefined>;
};

interface Step {
  keys: Array<{ key: string; type: string | undefined }>;
}

/**
 * Steps by `type` then segment: the model is fixed, so each (type, segment) pair is looked up once per process, not
 * once per order and path (the lookups concatenated strings and searched the model's tables on every call). Only
 * the model's own types are kept: a root type is the request's `resourceType`, which a caller could vary without
 * end; segments come from the knowledge's paths.
 */
const steps = new Map<string | undefined, Map<string, Step>>();

/** The JSON keys (and their element types) a step reads from an item of `type`; `type` undefined means not in the model. */
function stepOf(type: string | undefined, segment: string): Step {
  if (type !== undefined && !Object.hasOwn(model.type2Parent, type)) return lookUpStep(type, segment);
  let byType = steps.get(type);
  if (!byType) steps.set(type, (byType = new Map<string, Step>()));
  let step = byType.get(segment);
  if (!step) byType.set(segment, (step = lookUpStep(type, segment)));
  return step;
}

function lookUpStep(type: string | undefined, segment: string): Step {
  if (type === undefined) return { keys: [{ key: segment, type: undefined }] };
  const choices = model.choiceTypePaths[`${type}.${segment}`];
  if (choices) {
    return { keys: choices.map((t) => ({ key: `${segment}${t}`, type: model.path2Type[`${type}.${segment}${t}`] ?? t })) };
  }
  return { keys: [{ key: segment, type: model.path2Type[`${type}.${segment}`] }] };
}

function push(into: Array<{ value: unknown; type: string | undefined }>, value: unknown, type: string | undefined): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const v of value) if (v !== undefined && v !== null) into.push({ value: v, type });
  } else into.push({ value, type });
}

/** The values at `path` below `resource` (a flat collection, as FHIRPath returns it). */
export function navigate(resource: Record<string, unknown>, path: readonly string[]): unknown[] {
  const root = typeof resource['resourceType'] === 'string' ? resource['resourceType'] : undefined;
  let current: Array<{ value: unknown; type: string | undefined }> = [{ value: resource, type: root }];
  for (const segment of path) {
    const next: Array<{ value: unknown; type: string | undefined }> = [];
    for (const item of current) {
      if (typeof item.value !== 'object' || item.value === null) continue;
      const object = item.value as Record<string, unknown>;
      for (const { key, type } of stepOf(item.type, segment).keys) push(next, object[key], type);
    }
    current = next;
  }
  return current.map((c) => c.value);
}

import type { RequestHandler } from 'express';
import { HttpError, badRequest } from './errors';

export interface InputLimits {
  maxDepth: number;
  maxArrayLength: number;
  maxNodes: number;
  maxUrlLength: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = { maxDepth: 64, maxArrayLength: 20_000, maxNodes: 500_000, maxUrlLength: 4096 };

/** Keys that could reach an object's prototype if some code ever merged the body with [[Set]] semantics. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Bounds the shape of a parsed JSON body (an explicit stack, so a hostile 100,000-deep body cannot overflow ours)
 * and refuses prototype-polluting keys. FHIR and CDS Hooks JSON never use them; a body that does is an attack.
 */
export function checkJsonShape(body: unknown, limits: InputLimits): void {
  // Two parallel stacks of values and depths rather than one of {value, depth} objects: no allocation per node
  // (the walk visits every object of every request; the objects were a GC cost under load, issue 15).
  const values: unknown[] = [body];
  const depths: number[] = [0];
  let nodes = 0;
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop() as number;
    if (value === null || typeof value !== 'object') continue;
    if (++nodes > limits.maxNodes) throw new HttpError(413, 'too-costly', `The request body has more than ${limits.maxNodes} JSON objects and arrays.`);
    if (depth > limits.maxDepth) throw badRequest(`The request body is nested deeper than ${limits.maxDepth} levels.`);
    if (Array.isArray(value)) {
      if (value.length > limits.maxArrayLength) throw new HttpError(413, 'too-costly', `A JSON array in the request body has more than ${limits.maxArrayLength} items.`);
      for (const item of value) {
        if (item !== null && typeof item === 'object') {
          values.push(item);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in value) {
        if (FORBIDDEN_KEYS.has(key)) throw badRequest(`The request body uses the reserved key "${key}".`);
        const item = (value as Record<string, unknown>)[key];
        if (item !== null && typeof item === 'object') {
          values.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
}

/** Applies the URL and body-shape limits to every request (after JSON parsing). */
export function inputLimits(limits: InputLimits = DEFAULT_INPUT_LIMITS): RequestHandler {
  return (req, _res, next) => {
    if (req.originalUrl.length > limits.maxUrlLength) {
      next(new HttpError(414, 'too-long', `The request URL is longer than ${limits.maxUrlLength} characters.`));
      return;
    }
    try {
      if (req.body !== undefined) checkJsonShape(req.body, limits);
      next();
    } catch (e) {
      next(e);
    }
  };
}

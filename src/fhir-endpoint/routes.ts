import { Router } from 'express';
import type { Request, RequestHandler, Response } from 'express';
import type { ValueSet } from 'fhir/r4';
import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { HttpError, badRequest, notFound } from '../http/errors';
import { baseUrlOf, urlResolver } from '../cds/routes';
import type { Catalog } from '../engine/catalog';
import { valueSetCodes } from '../knowledge/valueset-index';
import { applyOperation } from './apply-operation';
import { DEFAULT_WORK_LIMITS, encodeAnswer } from '../decision/limits';
import type { WorkLimits } from '../decision/limits';
import { FHIR_JSON, capabilityStatement } from './capability';
import { KnowledgeRepository } from './repository';
import type { StoredResource } from './repository';
import { search } from './search';

export interface FhirRouterDeps {
  knowledge: KnowledgeBase;
  catalog: Catalog;
  allowDraft: boolean;
  onExpressionError: (policy: string, path: string, error: unknown) => void;
  now: () => Date;
  newId: () => string;
  publicUrl?: string;
  limits?: WorkLimits;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

/** ETag / Last-Modified from the resource version; honours If-None-Match and If-Modified-Since with 304. */
function sendStored(req: Request, res: Response, stored: StoredResource): void {
  const etag = `W/"${stored.versionId}"`;
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', stored.lastModified.toUTCString());
  const inm = req.get('if-none-match');
  const ims = req.get('if-modified-since');
  const notModified = inm ? inm.split(',').map((s) => s.trim()).includes(etag) : ims ? stored.lastModified.getTime() <= Date.parse(ims) : false;
  if (notModified) {
    res.status(304).end();
    return;
  }
  send(res, 200, stored.resource);
}

/** A ValueSet with its expansion: the stored one, or computed from the enumerated compose. */
function expand(vs: ValueSet, now: Date): ValueSet {
  if (vs.expansion) return vs;
  const contains = valueSetCodes(vs).map((c) => ({ system: c.system, code: c.code }));
  return { ...vs, expansion: { timestamp: now.toISOString(), total: contains.length, contains } };
}

/**
 * PlanDefinition/$apply on the PlanDefinition named by the `id` route parameter: the body is Parameters, the
 * answer a RequestGroup. Mounted at /fhir (clients, admin) and for the details app at /smart/api/apply/{id}.
 */
export function applyHandler(deps: FhirRouterDeps): RequestHandler {
  return async (req, res) => {
    const param: unknown = req.params['id'];
    const id = typeof param === 'string' ? param : '';
    // The loaded knowledge itself, keyed `Type/id` (no repository of its own: the endpoint's is built once, in fhirRouter).
    if (!ID.test(id) || !deps.knowledge.resources.has(`PlanDefinition/${id}`)) throw notFound(`PlanDefinition/${id.slice(0, 64)} is not known.`);
    const policy = deps.catalog.policy(`PlanDefinition/${id}`);
    if (!policy) throw notFound(`PlanDefinition/${id} is not applicable.`);
    if (!req.is(['application/fhir+json', 'application/json'])) throw new HttpError(415, 'not-supported', 'Send Parameters as application/fhir+json.');
    const base = baseUrlOf(req, deps.publicUrl);
    const requestGroup = await applyOperation(policy, req.body, {
      catalog: deps.catalog,
      allowDraft: deps.allowDraft,
      now: deps.now,
      newId: deps.newId,
      onExpressionError: deps.onExpressionError,
      resolveUrl: urlResolver(base),
      ...(deps.limits ? { limits: deps.limits } : {}),
    });
    res.status(200).type(FHIR_JSON).send(encodeAnswer(requestGroup, (deps.limits ?? DEFAULT_WORK_LIMITS).maxAnswerBytes, 'Send fewer orders or codings.'));
  };
}

/**
 * The knowledge as a read-only FHIR R4B endpoint at /fhir: metadata, read, search, ValueSet/$expand and
 * PlanDefinition/$apply. Everything else is 404 (unknown type or id), 400 (bad parameter or body) or 405 (writes),
 * always as an OperationOutcome.
 */
export function fhirRouter(deps: FhirRouterDeps): Router {
  const repo = new KnowledgeRepository(deps.knowledge);
  const router = Router();
  const started = deps.now().toISOString();

  const typeOf = (type: string): string => {
    if (!TYPE.test(type) || !repo.hasType(type)) throw notFound(`Resource type "${type.slice(0, 64)}" is not served here. GET /fhir/metadata lists the types.`);
    return type;
  };
  const readOf = (type: string, id: string): StoredResource => {
    const stored = ID.test(id) ? repo.read(typeOf(type), id) : undefined;
    if (!stored) throw notFound(`${type}/${id.slice(0, 64)} is not known.`);
    return stored;
  };
  const searchset = (req: Request, type: string, found: StoredResource[]): Record<string, unknown> => {
    const base = `${baseUrlOf(req, deps.publicUrl)}/fhir`;
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      link: [{ relation: 'self', url: `${base}${req.originalUrl.slice(req.originalUrl.indexOf('/fhir') + 5)}` }],
      // FHIR JSON has no empty arrays: a search that finds nothing has no `entry` at all.
      ...(found.length > 0 ? { entry: found.map((s) => ({ fullUrl: `${base}/${type}/${s.resource.id}`, resource: s.resource, search: { mode: 'match' } })) } : {}),
    };
  };

  router.get('/fhir/metadata', (req, res) => {
    send(res, 200, capabilityStatement(repo, baseUrlOf(req, deps.publicUrl), started, deps.knowledge.payer.name));
  });

  router.get('/fhir/*segments', (req, res) => {
    const segments = (req.params).segments;
    const [type = '', second, third, ...rest] = segments;
    if (rest.length > 0) throw notFound('No such FHIR interaction.');
    if (second === undefined) {
      send(res, 200, searchset(req, typeOf(type), search(repo.all(typeOf(type)), req.query)));
      return;
    }
    if (type === 'ValueSet' && (second === '$expand' || third === '$expand')) {
      const query = { ...req.query } as Record<string, unknown>;
      let stored: StoredResource | undefined;
      if (second === '$expand') {
        const url = query['url'];
        delete query['url'];
        if (typeof url !== 'string') throw badRequest('$expand needs a url parameter (or use ValueSet/{id}/$expand).', ['url']);
        stored = search(repo.all('ValueSet'), { url })[0];
        if (!stored) throw notFound(`No ValueSet with url ${url.slice(0, 256)}.`);
      } else stored = readOf(type, second);
      const extra = Object.keys(query).filter((k) => k !== '_format');
      if (extra.length > 0) throw badRequest(`$expand does not support the parameter "${extra[0]?.slice(0, 64) ?? ''}".`, [extra[0] ?? '']);
      send(res, 200, expand(stored.resource as unknown as ValueSet, deps.now()));
      return;
    }
    if (third !== undefined) throw notFound(`No operation ${third.slice(0, 64)} on ${type}.`);
    if (Object.keys(req.query).some((k) => k !== '_format')) throw badRequest('A read takes no parameters.', []);
    sendStored(req, res, readOf(type, second));
  });

  // $expand may also be POSTed (FHIR operations accept POST), with the ValueSet's url as a Parameters entry.
  router.post(['/fhir/ValueSet/\\$expand', '/fhir/ValueSet/:id/\\$expand'], (req, res) => {
    const id = (req.params as { id?: string }).id;
    let stored: StoredResource | undefined;
    if (id) stored = readOf('ValueSet', id);
    else {
      const params = (req.body as { resourceType?: unknown; parameter?: Array<{ name?: unknown; valueUri?: unknown; valueString?: unknown }> } | undefined);
      const url = params?.resourceType === 'Parameters' ? params.parameter?.find((p) => p.name === 'url') : undefined;
      const value = url?.valueUri ?? url?.valueString;
      if (typeof value !== 'string') throw badRequest('POST $expand needs Parameters with a url (valueUri).', ['Parameters.parameter']);
      stored = search(repo.all('ValueSet'), { url: value })[0];
      if (!stored) throw notFound(`No ValueSet with url ${value.slice(0, 256)}.`);
    }
    send(res, 200, expand(stored.resource as unknown as ValueSet, deps.now()));
  });

  router.post('/fhir/PlanDefinition/:id/\\$apply', applyHandler(deps));

  // Read-only: every write interaction is 405 (FHIR R4 http.html: not allowed on this endpoint).
  router.all('/fhir{/*segments}', (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    const operation = /\/\$(apply|expand)$/.test(req.path);
    next(new HttpError(405, 'not-supported', `${req.method} is not allowed: this FHIR endpoint is read-only.`, undefined, { Allow: operation ? 'GET, HEAD, POST' : 'GET, HEAD' }));
  });
  return router;
}

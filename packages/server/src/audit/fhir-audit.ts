import type { AuditEvent, Bundle, OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SHARED_DEFINITION_TYPES } from '../access/policy.js';
import { type AuditCaller, type RestInteraction, restAuditEvent } from './audit-event.js';
import type { AuditLog } from './audit-log.js';

const FHIR_PREFIX = '/fhir/R4';

/**
 * Resource types that define the server and its terminology rather than hold anyone's data:
 * reading or searching them is not audited (writing them is).
 */
const DEFINITIONAL_TYPES: ReadonlySet<string> = new Set([
  ...SHARED_DEFINITION_TYPES,
  'AuditEvent',
  'CapabilityStatement',
  'GraphDefinition',
  'StructureMap',
]);
/** Longest query kept on an event; longer ones are cut (a URL can be as long as the client likes). */
const MAX_QUERY_LENGTH = 2048;
/** Bundle answers larger than this are recorded as one event instead of one per entry. */
const MAX_BUNDLE_ANSWER_CHARS = 8 * 1024 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    /** The answer's body, kept for the audit when it says more than the status (failures, bundles). */
    auditPayload?: string;
  }
}

/** What one FHIR request did, as far as the audit cares. */
interface Interaction {
  interaction: RestInteraction;
  /** The resource type named by the path, if any. */
  resourceType?: string;
  /** Instance-level: 'Type/id' or 'Type/id/_history/vid'. */
  what?: string;
  /** Type- and system-level: the path and query, relative to the FHIR base. */
  query?: string;
}

/**
 * Records an AuditEvent for each FHIR request of an authenticated caller once its answer has
 * been sent (onResponse), so it adds no latency: writes always, reads/searches/history of
 * everything but definitional resources. Batches and transactions record their entries.
 */
export function registerFhirAudit(app: FastifyInstance, audit: AuditLog): void {
  if (!audit.enabled) {
    return;
  }
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.auth && typeof payload === 'string' && isFhirUrl(request.url)) {
      if (reply.statusCode >= 400 || (request.method === 'POST' && isBaseUrl(request.url))) {
        request.auditPayload = payload;
      }
    }
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const auth = request.auth;
    if (!auth || !isFhirUrl(request.url)) {
      return;
    }
    try {
      const caller: AuditCaller = { profile: auth.profile, clientId: auth.client_id, ip: request.ip };
      const recorded = new Date().toISOString();
      for (const event of eventsOf(request, reply.statusCode, reply.getHeader('location'), caller, audit, recorded)) {
        audit.record(auth.project, event);
      }
    } catch (err) {
      request.log.error({ err }, 'audit: could not record the request');
    }
  });
}

function isFhirUrl(url: string): boolean {
  return url.startsWith(FHIR_PREFIX) && (url.length === FHIR_PREFIX.length || '/?'.includes(url[FHIR_PREFIX.length]));
}

function isBaseUrl(url: string): boolean {
  const rest = url.slice(FHIR_PREFIX.length).split('?')[0];
  return rest === '' || rest === '/';
}

function eventsOf(
  request: FastifyRequest,
  status: number,
  location: unknown,
  caller: AuditCaller,
  audit: AuditLog,
  recorded: string
): AuditEvent[] {
  const relative = request.url.slice(FHIR_PREFIX.length).replace(/^\/+/, '');
  const found = classify(request.method, relative, request.body);
  if (!found) {
    return [];
  }
  if ((found.interaction === 'batch' || found.interaction === 'transaction') && status < 400) {
    const entries = entryEvents(request, caller, audit, recorded);
    if (entries) {
      return entries;
    }
  }
  if (!isAudited(found)) {
    return [];
  }
  return [
    restAuditEvent(audit.observer, {
      interaction: found.interaction,
      caller,
      what: found.what ?? (found.interaction === 'create' ? createdReference(location) : undefined),
      query: found.query,
      status,
      outcomeDesc: status >= 400 ? diagnosticsOf(request.auditPayload) : undefined,
      recorded,
    }),
  ];
}

/** Reads of definitional resources are not audited; every write is. */
function isAudited(found: Interaction): boolean {
  const reads = found.interaction === 'read' || found.interaction === 'vread' || found.interaction === 'search';
  const history = found.interaction === 'history';
  if ((reads || history || found.interaction === 'operation') && found.resourceType) {
    return !DEFINITIONAL_TYPES.has(found.resourceType);
  }
  return true;
}

/**
 * The interaction of a request by method and path (https://hl7.org/fhir/R4/http.html).
 * `relative` is the URL after the FHIR base, with its query.
 */
function classify(method: string, relative: string, body: unknown): Interaction | undefined {
  const queryStart = relative.indexOf('?');
  const path = queryStart >= 0 ? relative.slice(0, queryStart) : relative;
  const search = queryStart >= 0 ? relative.slice(queryStart + 1) : '';
  const segments = path.split('/').filter(Boolean);
  const [first, second, third, fourth] = segments;
  const query = (text: string) => truncate(search ? `${text}?${search}` : text);
  if (!first) {
    if (method === 'POST') {
      const type = (body as Bundle | undefined)?.type;
      return { interaction: type === 'transaction' ? 'transaction' : 'batch' };
    }
    return method === 'GET' ? { interaction: 'search', query: query('') } : undefined;
  }
  if (first === 'metadata') {
    return undefined;
  }
  if (first.startsWith('$')) {
    return { interaction: 'operation', query: operationQuery(query(path), body) };
  }
  if (first === '_history') {
    return { interaction: 'history', query: query(path) };
  }
  const resourceType = first;
  if (!second) {
    switch (method) {
      case 'GET':
        return { interaction: 'search', resourceType, query: query(path) };
      case 'POST':
        return { interaction: 'create', resourceType };
      case 'PUT':
        return { interaction: 'update', resourceType, query: query(path) };
      case 'PATCH':
        return { interaction: 'patch', resourceType, query: query(path) };
      case 'DELETE':
        return { interaction: 'delete', resourceType, query: query(path) };
      default:
        return undefined;
    }
  }
  if (second === '_search' && method === 'POST') {
    const form = body && typeof body === 'object' && !Buffer.isBuffer(body) ? formText(body) : '';
    return {
      interaction: 'search',
      resourceType,
      query: truncate(`${resourceType}?${[search, form].filter(Boolean).join('&')}`),
    };
  }
  if (second === '_history') {
    return { interaction: 'history', resourceType, query: query(path) };
  }
  if (second.startsWith('$')) {
    return { interaction: 'operation', resourceType, query: operationQuery(query(path), body) };
  }
  const instance = `${resourceType}/${second}`;
  if (!third) {
    const byMethod: Record<string, RestInteraction> = { GET: 'read', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    const interaction = byMethod[method];
    return interaction ? { interaction, resourceType, what: instance } : undefined;
  }
  if (third === '_history') {
    return fourth
      ? { interaction: 'vread', resourceType, what: `${instance}/_history/${fourth}` }
      : { interaction: 'history', resourceType, what: instance };
  }
  if (third.startsWith('$')) {
    return { interaction: 'operation', resourceType, what: instance, query: operationQuery(query(path), body) };
  }
  return undefined;
}

/** $graphql carries its query in the body: keep it, it says what was read. */
function operationQuery(path: string, body: unknown): string {
  const graphql = path.startsWith('$graphql') ? (body as { query?: unknown } | undefined)?.query : undefined;
  return typeof graphql === 'string' ? truncate(`${path} ${graphql}`) : path;
}

function formText(body: object): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(body)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      // A JSON body's values may be objects (even ones whose toString is not a function).
      params.append(key, typeof v === 'string' ? v : JSON.stringify(v));
    }
  }
  return params.toString();
}

/** One event per entry of a batch or transaction answer; undefined when the answer cannot be read. */
function entryEvents(
  request: FastifyRequest,
  caller: AuditCaller,
  audit: AuditLog,
  recorded: string
): AuditEvent[] | undefined {
  const payload = request.auditPayload;
  const requestEntries = (request.body as Bundle | undefined)?.entry;
  if (!payload || payload.length > MAX_BUNDLE_ANSWER_CHARS || !Array.isArray(requestEntries)) {
    return undefined;
  }
  let answer: Bundle;
  try {
    answer = JSON.parse(payload) as Bundle;
  } catch {
    return undefined;
  }
  if (answer.resourceType !== 'Bundle' || answer.entry?.length !== requestEntries.length) {
    return undefined;
  }
  const events: AuditEvent[] = [];
  requestEntries.forEach((entry, i) => {
    const method = entry.request?.method;
    const url = entry.request?.url;
    if (!method || !url) {
      return;
    }
    const found = classify(method, url.replace(/^\/+/, ''), entry.resource);
    if (!found || !isAudited(found)) {
      return;
    }
    const response = answer.entry?.[i]?.response;
    const status = Number.parseInt(response?.status ?? '', 10) || 200;
    events.push(
      restAuditEvent(audit.observer, {
        interaction: found.interaction,
        caller,
        what: found.what ?? (found.interaction === 'create' ? createdReference(response?.location) : undefined),
        query: found.query,
        status,
        outcomeDesc: status >= 400 ? outcomeText(response?.outcome as OperationOutcome | undefined) : undefined,
        recorded,
      })
    );
  });
  return events;
}

/** 'Patient/123' from a Location such as 'http://host/fhir/R4/Patient/123/_history/abc'. */
function createdReference(location: unknown): string | undefined {
  if (typeof location !== 'string') {
    return undefined;
  }
  const match = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(location);
  return match?.[1];
}

function diagnosticsOf(payload: string | undefined): string | undefined {
  if (!payload || payload.length > 65_536) {
    return undefined;
  }
  try {
    return outcomeText(JSON.parse(payload) as OperationOutcome);
  } catch {
    return undefined;
  }
}

function outcomeText(outcome: OperationOutcome | undefined): string | undefined {
  const issue = outcome?.resourceType === 'OperationOutcome' ? outcome.issue?.[0] : undefined;
  const text = issue?.diagnostics ?? issue?.details?.text;
  return text ? truncate(text) : undefined;
}

function truncate(text: string): string {
  return text.length > MAX_QUERY_LENGTH ? text.slice(0, MAX_QUERY_LENGTH) : text;
}

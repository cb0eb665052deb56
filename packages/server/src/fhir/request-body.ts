import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { FhirRequest } from '@medplum/fhir-router';
import { checkConditionalQuery } from './conditional-query.js';

const ENTRY_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const ENTRY_REQUEST_STRINGS = ['ifNoneMatch', 'ifModifiedSince', 'ifMatch', 'ifNoneExist'] as const;

/** Interactions whose body is the thing acted on: without one there is nothing to do. */
const BODY_REQUIRED = new Set(['create', 'update', 'patch', 'batch']);

/**
 * Checks the JSON shape of a FHIR request's body before FhirRouter (which assumes it) sees it:
 * a resource where a resource is expected, a JSON Patch array for PATCH, a Bundle whose entries
 * are well-formed. Bad shapes are a 400 naming what is wrong, before anything is written.
 * Raw bodies (Buffers: Binary uploads, refused types) are checked elsewhere.
 */
export function checkRequestBody(request: FhirRequest, interaction: string | undefined): void {
  const { body, method } = request;
  if (Buffer.isBuffer(body) || method === 'GET' || method === 'DELETE') {
    return;
  }
  const isGraphql = request.url.split('?')[0] === '$graphql';
  if (body === undefined) {
    if ((interaction && BODY_REQUIRED.has(interaction)) || isGraphql) {
      throw shapeError('A request body is required');
    }
    return;
  }
  if (method === 'PATCH') {
    if (!Array.isArray(body) && !isObject(body)) {
      throw shapeError('A PATCH body must be a JSON Patch array');
    }
    return;
  }
  if (!isObject(body)) {
    throw shapeError(`The request body must be a JSON object, not ${describe(body)}`);
  }
  if (body.resourceType !== undefined && typeof body.resourceType !== 'string') {
    throw shapeError('resourceType must be a string', 'resourceType');
  }
  const ifNoneExist = request.headers?.['if-none-exist'];
  if (interaction === 'create' && typeof ifNoneExist === 'string') {
    checkConditionalQuery(request.url.split(/[/?]/)[0], ifNoneExist, 'If-None-Exist');
  }
  if (
    interaction === 'batch' &&
    body.resourceType === 'Bundle' &&
    (body.type === 'batch' || body.type === 'transaction')
  ) {
    checkBundleEntries(body);
  }
}

/** Every entry of a batch or transaction is an object with a well-formed request. */
export function checkBundleEntries(bundle: Record<string, unknown>): void {
  const entries = bundle.entry;
  if (entries === undefined) {
    return;
  }
  if (!Array.isArray(entries)) {
    throw shapeError('Bundle.entry must be an array', 'Bundle.entry');
  }
  entries.forEach((entry, i) => {
    const at = `Bundle.entry[${i}]`;
    if (!isObject(entry)) {
      throw shapeError(`${at} must be an object, not ${describe(entry)}`, at);
    }
    if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string') {
      throw shapeError(`${at}.fullUrl must be a string`, `${at}.fullUrl`);
    }
    if (entry.resource !== undefined && !isObject(entry.resource)) {
      throw shapeError(
        `${at}.resource must be a resource (a JSON object), not ${describe(entry.resource)}`,
        `${at}.resource`
      );
    }
    if (entry.resource !== undefined && typeof entry.resource.resourceType !== 'string') {
      throw shapeError(`${at}.resource.resourceType must be a string`, `${at}.resource.resourceType`);
    }
    checkEntryRequest(entry.request, `${at}.request`);
  });
}

function checkEntryRequest(request: unknown, at: string): void {
  if (!isObject(request)) {
    throw shapeError(`${at} must be an object with method and url`, at);
  }
  if (typeof request.method !== 'string' || !ENTRY_METHODS.has(request.method)) {
    throw shapeError(`${at}.method must be one of ${[...ENTRY_METHODS].join(', ')}`, `${at}.method`);
  }
  if (typeof request.url !== 'string' || request.url === '') {
    throw shapeError(`${at}.url must be a non-empty string`, `${at}.url`);
  }
  for (const name of ENTRY_REQUEST_STRINGS) {
    if (request[name] !== undefined && typeof request[name] !== 'string') {
      throw shapeError(`${at}.${name} must be a string`, `${at}.${name}`);
    }
  }
  if (typeof request.ifNoneExist === 'string') {
    checkConditionalQuery(request.url.split(/[/?]/)[0], request.ifNoneExist, `${at}.ifNoneExist`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function shapeError(message: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(badRequest(message, expression));
}

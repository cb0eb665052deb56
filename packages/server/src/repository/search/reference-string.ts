import { isResourceType } from '@medplum/core';

/** The resource a reference string names: `Patient/1`, `Patient/1/_history/2` or an absolute URL. */
export interface ReferenceTarget {
  type: string;
  id: string;
}

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Extracts type and id from a literal reference. Absolute URLs resolve by their last two
 * segments, so `https://host/fhir/R4/Patient/1` and `Patient/1` name the same target; the
 * index has no base URL at write time and references to this server are usually written so.
 * Conditional (`Patient?identifier=x`), contained (`#p1`) and URN references have no target.
 */
export function parseReferenceTarget(reference: string): ReferenceTarget | undefined {
  if (reference.includes('?') || reference.startsWith('#') || reference.startsWith('urn:')) {
    return undefined;
  }
  let parts = reference.split('/');
  const history = parts.lastIndexOf('_history');
  if (history >= 0) {
    parts = parts.slice(0, history);
  }
  if (parts.length < 2) {
    return undefined;
  }
  const type = parts[parts.length - 2];
  const id = parts[parts.length - 1];
  if (!ID_PATTERN.test(id) || !isResourceType(type)) {
    return undefined;
  }
  return { type, id };
}

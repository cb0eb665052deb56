import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { FastifyInstance } from 'fastify';

const JSON_TYPES = [
  'application/json',
  'application/fhir+json',
  'application/json-patch+json',
  'application/scim+json',
];

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * JSON bodies are parsed here so that malformed JSON is a 400 OperationOutcome; anything else
 * stays raw bytes. Nesting deeper than `maxDepth` is refused before JSON.parse: everything
 * after parsing (validation, indexing, references) walks resources recursively.
 */
export function registerJsonBodyParsers(app: FastifyInstance, maxDepth: number): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string, maxDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}

/** An empty body is `undefined`; anything else must be JSON nested at most `maxDepth` deep. */
export function parseJsonBody(text: string, maxDepth: number): unknown {
  if (text.trim() === '') {
    return undefined;
  }
  const depth = jsonDepth(text, maxDepth);
  if (depth > maxDepth) {
    throw new OperationOutcomeError(badRequest(`JSON nested deeper than ${maxDepth} levels`));
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OperationOutcomeError(badRequest(`Invalid JSON: ${(err as Error).message}`));
  }
}

/**
 * The deepest nesting of objects and arrays in `text` (brackets inside strings do not count),
 * stopping as soon as it passes `limit`. Malformed text is left for JSON.parse to report.
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) {
        i++;
      } else if (c === QUOTE) {
        inString = false;
      }
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) {
          return deepest;
        }
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

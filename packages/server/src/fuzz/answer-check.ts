import type { HostileRequest } from './hostile-requests.js';

/** What came back for one request. */
export interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** A stack frame (`at fn (file.ts:12:5)`) or a server-side path in a body means internals leaked. */
const LEAK = /\bat [^\n]*:\d+:\d+|node_modules|\/src\/[\w/-]+\.[jt]s|file:\/\//;

/**
 * What is wrong with the answer to a hostile request, if anything: a 5xx, a leaked stack trace,
 * or (on FHIR routes) an error that is not an OperationOutcome.
 */
export function answerProblems(request: HostileRequest, answer: Answer): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) {
    problems.push(`status ${answer.status}`);
  }
  if (LEAK.test(answer.body)) {
    problems.push('internal detail in the body');
  }
  if (answer.status >= 400 && request.url.startsWith('/fhir/') && !isOperationOutcome(answer)) {
    problems.push(`error ${answer.status} without an OperationOutcome (${answer.contentType})`);
  }
  return problems;
}

function isOperationOutcome(answer: Answer): boolean {
  if (!answer.contentType?.includes('json')) {
    return false;
  }
  try {
    return (JSON.parse(answer.body) as { resourceType?: string }).resourceType === 'OperationOutcome';
  } catch {
    return false;
  }
}

/** A one-line description of a request for reports (bodies cut short). */
export function describeRequest(request: HostileRequest, maxChars = 300): string {
  const body = request.body === undefined ? '' : ` ${JSON.stringify(request.body.slice(0, maxChars))}`;
  const headers = Object.keys(request.headers).length ? ` ${JSON.stringify(request.headers).slice(0, maxChars)}` : '';
  return `${request.method} ${request.url.slice(0, maxChars)}${headers}${body}`;
}

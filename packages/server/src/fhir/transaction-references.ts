/** A `urn:uuid:` placeholder, also with its colons percent-encoded (as in a query string). */
const URN_UUID = /urn(?::|%3A)uuid(?::|%3A)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * Replaces, in place, every string in `value` that names a placeholder in `targets` (a bundle
 * entry's fullUrl) by the `Type/id` it resolved to: whole strings (`Reference.reference`) and
 * `urn:uuid:` placeholders inside longer strings (conditional URLs, narrative links).
 * https://hl7.org/fhir/R4/bundle.html#references
 */
export function rewriteReferences(value: unknown, targets: ReadonlyMap<string, string>): void {
  if (targets.size === 0 || value === null || typeof value !== 'object') {
    return;
  }
  const container = value as Record<string, unknown>;
  for (const key of Object.keys(container)) {
    const item = container[key];
    if (typeof item === 'string') {
      container[key] = rewriteString(item, targets);
    } else {
      rewriteReferences(item, targets);
    }
  }
}

/** True when `text` (a conditional URL or query) names one of the placeholders. */
export function mentionsAny(text: string, placeholders: readonly string[]): boolean {
  const decoded = text.replace(/%3A/gi, ':');
  return placeholders.some((placeholder) => decoded.includes(placeholder));
}

function rewriteString(text: string, targets: ReadonlyMap<string, string>): string {
  const whole = targets.get(text);
  if (whole !== undefined) {
    return whole;
  }
  return text.replace(URN_UUID, (urn) => targets.get(urn.replace(/%3A/gi, ':')) ?? urn);
}

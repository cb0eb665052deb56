/**
 * Paths as @medplum/core's validator reports them (`Observation.component[1].value[x]`), resolved
 * against the resource they describe.
 */

interface Resolved {
  /** The FHIRPath with each choice element named as it appears (`Observation.valueQuantity`). */
  path: string;
  value: unknown;
}

/**
 * The core validator names choice elements by their definition (`value[x]`); clients want the
 * element as it appears in the JSON (`valueQuantity`), which only the resource knows.
 */
export function resolveChoicePath(resource: object, path: string): string {
  return path.includes('[x]') ? resolvePath(resource, path).path : path;
}

/** The JSON value a validator path points at, or undefined when it points at nothing. */
export function valueAtPath(resource: object, path: string): unknown {
  return resolvePath(resource, path).value;
}

function resolvePath(resource: object, path: string): Resolved {
  // The first segment is the resource type (or the profile's root path).
  const [root, ...segments] = path.split('.');
  const out = [root];
  let node: unknown = resource;
  for (const segment of segments) {
    const match = /^([^[]+)(\[x\])?((?:\[\d+\])*)$/.exec(segment);
    if (!match || typeof node !== 'object' || node === null) {
      out.push(segment);
      node = undefined;
      continue;
    }
    const [, name, choice, indexes] = match;
    const object = node as Record<string, unknown>;
    const key = choice ? (Object.keys(object).find((k) => isChoiceKey(k, name)) ?? `${name}[x]`) : name;
    out.push(key + indexes);
    node = object[key];
    for (const index of indexes.matchAll(/\[(\d+)\]/g)) {
      node = Array.isArray(node) ? node[Number(index[1])] : undefined;
    }
  }
  return { path: out.join('.'), value: node };
}

function isChoiceKey(key: string, name: string): boolean {
  return key.length > name.length && key.startsWith(name) && /[A-Z]/.test(key[name.length]);
}

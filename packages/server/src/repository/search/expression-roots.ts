import { type Atom, FunctionAtom, IndexerAtom, InfixOperatorAtom } from '@medplum/core';

/**
 * Functions that return an empty collection for an empty input. A path made only of these
 * (and of member access) yields nothing when its first property is absent from the resource.
 */
const EMPTY_PRESERVING = new Set([
  'where',
  'ofType',
  'as',
  'resolve',
  'first',
  'last',
  'extension',
  'select',
  'single',
]);

/**
 * Top-level properties of `resourceType` that an expression reads, or undefined when the
 * expression may yield values without any of them (e.g. `x.exists()` is false, not empty).
 * Lets indexing skip most SearchParameters without evaluating FHIRPath at all.
 */
export function getExpressionRoots(atom: Atom, resourceType: string): string[] | undefined {
  if (atom instanceof InfixOperatorAtom && atom.operator === '|') {
    const left = getExpressionRoots(atom.left, resourceType);
    const right = getExpressionRoots(atom.right, resourceType);
    return left && right ? [...left, ...right] : undefined;
  }
  const root = getPathRoot(atom, resourceType);
  return root === undefined ? undefined : [root];
}

function getPathRoot(atom: Atom, resourceType: string): string | undefined {
  if (atom instanceof IndexerAtom) {
    return getPathRoot(atom.left, resourceType);
  }
  if (!(atom instanceof InfixOperatorAtom)) {
    return undefined;
  }
  if (atom.operator === 'as') {
    return getPathRoot(atom.left, resourceType);
  }
  if (atom.operator !== '.') {
    return undefined;
  }
  if (symbolName(atom.left) === resourceType) {
    return symbolName(atom.right);
  }
  const right = atom.right;
  const preserving =
    symbolName(right) !== undefined || (right instanceof FunctionAtom && EMPTY_PRESERVING.has(right.name));
  return preserving ? getPathRoot(atom.left, resourceType) : undefined;
}

/** SymbolAtom is not exported by @medplum/core; it is the atom with a `name` and no `args`. */
export function symbolName(atom: Atom): string | undefined {
  if (atom instanceof FunctionAtom || !('name' in atom)) {
    return undefined;
  }
  const name = (atom as { name: unknown }).name;
  return typeof name === 'string' && /^[A-Za-z]\w*$/.test(name) ? name : undefined;
}

/** True when the resource has the property, including choice types (`value` → `valueQuantity`). */
export function hasRoot(resource: Record<string, unknown>, root: string, isChoice: boolean): boolean {
  if (resource[root] !== undefined) {
    return true;
  }
  if (!isChoice) {
    return false;
  }
  for (const key in resource) {
    if (key.length > root.length && key.startsWith(root) && key.charCodeAt(root.length) <= 90) {
      return true;
    }
  }
  return false;
}

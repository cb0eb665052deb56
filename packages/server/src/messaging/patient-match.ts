import { Operator, type WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';
import { phoneSearchValues } from './phone.js';

/** More patients than this on one number is not a family phone but a data problem: staff decide. */
const MAX_SHARED_PHONE = 5;

export type PatientMatch =
  | { kind: 'one'; patient: WithId<Patient> }
  | { kind: 'none' }
  | { kind: 'several'; patients: WithId<Patient>[] };

/**
 * The active patients of the repository's project whose `telecom` holds this E.164 number (as
 * `+254…` or `254…`). A number shared by several patients (a family phone) matches none of
 * them on its own: who wrote is for staff to say.
 */
export async function matchPatientByPhone(projectRepo: PostgresRepository, phone: string): Promise<PatientMatch> {
  const found = await projectRepo.searchResources<Patient>({
    resourceType: 'Patient',
    filters: [{ code: 'phone', operator: Operator.EQUALS, value: phoneSearchValues(phone).join(',') }],
    count: MAX_SHARED_PHONE,
  });
  const patients = found.filter((p) => p.active !== false);
  if (patients.length === 1) {
    return { kind: 'one', patient: patients[0] };
  }
  return patients.length === 0 ? { kind: 'none' } : { kind: 'several', patients };
}

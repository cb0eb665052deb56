import { generateId, Operator, type WithId } from '@medplum/core';
import type { AccessPolicy, AccessPolicyResource } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';

/** The roles Tiba ships as AccessPolicies; invites apply one of them. */
export type Role = 'admin' | 'clinician' | 'patient' | 'bot';

export const ROLES: readonly Role[] = ['admin', 'clinician', 'patient', 'bot'];

const ROLE_SYSTEM = 'https://tiba.health/fhir/CodeSystem/role';

/** Everything about care and its scheduling: what clinicians (and by default bots) read and write. */
export const CLINICAL_TYPES = [
  'AdverseEvent',
  'AllergyIntolerance',
  'Appointment',
  'AppointmentResponse',
  'Basic',
  'Binary',
  'BodyStructure',
  'CarePlan',
  'CareTeam',
  'ClinicalImpression',
  'Communication',
  'CommunicationRequest',
  'Composition',
  'Condition',
  'Consent',
  'DetectedIssue',
  'Device',
  'DeviceRequest',
  'DeviceUseStatement',
  'DiagnosticReport',
  'DocumentManifest',
  'DocumentReference',
  'Encounter',
  'EpisodeOfCare',
  'FamilyMemberHistory',
  'Flag',
  'Goal',
  'Group',
  'HealthcareService',
  'ImagingStudy',
  'Immunization',
  'ImmunizationEvaluation',
  'ImmunizationRecommendation',
  'List',
  'Location',
  'Media',
  'Medication',
  'MedicationAdministration',
  'MedicationDispense',
  'MedicationRequest',
  'MedicationStatement',
  'NutritionOrder',
  'Observation',
  'Organization',
  'Patient',
  'Person',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
  'Questionnaire',
  'QuestionnaireResponse',
  'RelatedPerson',
  'RequestGroup',
  'RiskAssessment',
  'Schedule',
  'ServiceRequest',
  'Slot',
  'Specimen',
  'Task',
  'VisionPrescription',
] as const;

/** Money: clinicians read it, billing (an admin or a bot) writes it. */
export const BILLING_TYPES = [
  'Account',
  'ChargeItem',
  'ChargeItemDefinition',
  'Claim',
  'ClaimResponse',
  'Coverage',
  'CoverageEligibilityRequest',
  'CoverageEligibilityResponse',
  'ExplanationOfBenefit',
  'Invoice',
  'PaymentNotice',
  'PaymentReconciliation',
] as const;

/** Types a patient reads when they are in the patient's compartment. */
const PATIENT_RECORD_TYPES = [
  'AllergyIntolerance',
  'CarePlan',
  'CareTeam',
  'CommunicationRequest',
  'Condition',
  'Consent',
  'Coverage',
  'DiagnosticReport',
  'DocumentReference',
  'Encounter',
  'Goal',
  'Immunization',
  'Invoice',
  'MedicationDispense',
  'MedicationRequest',
  'MedicationStatement',
  'Observation',
  'Patient',
  'Procedure',
  'ServiceRequest',
] as const;

/** Types a patient writes, always inside their own compartment. */
const PATIENT_AUTHORED_TYPES = ['QuestionnaireResponse', 'Communication'] as const;

/** Directory and scheduling resources a patient reads to find care and book it. */
const PATIENT_DIRECTORY_TYPES = [
  'HealthcareService',
  'Location',
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Questionnaire',
  'Schedule',
  'Slot',
] as const;

const READ_ONLY = ['read', 'vread', 'history', 'search'] as const;
const OWN = '%patient';

function readWrite(types: readonly string[]): AccessPolicyResource[] {
  return types.map((resourceType) => ({ resourceType }));
}

function readOnly(types: readonly string[], compartment?: string): AccessPolicyResource[] {
  return types.map((resourceType) => ({
    resourceType,
    readonly: true,
    ...(compartment ? { compartment: { reference: compartment } } : undefined),
  }));
}

/** The policy entries of each role. `%patient` is replaced by the member's Patient at sign-in. */
export function rolePolicyEntries(role: Role): AccessPolicyResource[] {
  switch (role) {
    case 'admin':
      return [
        { resourceType: '*' },
        ...readWrite(['AccessPolicy', 'ProjectMembership']),
        ...readOnly(['Project', 'User', 'AuditEvent']),
      ];
    case 'clinician':
    case 'bot':
      return [...readWrite(CLINICAL_TYPES), ...readOnly(BILLING_TYPES)];
    case 'patient':
      return [
        ...readOnly(PATIENT_RECORD_TYPES, OWN),
        // Appointment requests: a patient proposes, the clinic books.
        ...readOnly(['Appointment'], OWN),
        {
          resourceType: 'Appointment',
          criteria: 'Appointment?status=proposed',
          compartment: { reference: OWN },
          interaction: ['create'],
        },
        ...PATIENT_AUTHORED_TYPES.map(
          (resourceType): AccessPolicyResource => ({
            resourceType,
            compartment: { reference: OWN },
            interaction: ['create', ...READ_ONLY],
          })
        ),
        ...readOnly(PATIENT_DIRECTORY_TYPES),
      ];
  }
}

/** The shipped AccessPolicy of a role in a project: one per project and role, with a predictable id. */
export function rolePolicyId(projectId: string, role: Role): string {
  return `${role}-${projectId}`;
}

/**
 * Finds or creates the project's AccessPolicy for a role. Its id is derived from the project
 * and role, so concurrent callers converge on one resource instead of creating duplicates.
 */
export async function ensureRolePolicy(
  systemRepo: PostgresRepository,
  projectId: string,
  role: Role
): Promise<WithId<AccessPolicy>> {
  const id = rolePolicyId(projectId, role);
  const existing = await systemRepo.readResource<AccessPolicy>('AccessPolicy', id).catch(() => undefined);
  if (existing && existing.meta?.project === projectId && roleOfPolicy(existing) === role) {
    return existing;
  }
  // The predictable id is taken by another project's resource (someone claimed it first): the
  // role's policy then lives under a fresh id, found again by its tag within this project.
  const tagged = existing ? await findTaggedRolePolicy(systemRepo, projectId, role) : undefined;
  if (tagged) {
    return tagged;
  }
  return systemRepo.inProject(projectId).updateResource<AccessPolicy>({
    resourceType: 'AccessPolicy',
    id: existing ? generateId() : id,
    meta: { tag: [{ system: ROLE_SYSTEM, code: role }] },
    name: `${role[0].toUpperCase()}${role.slice(1)} (shipped with Tiba)`,
    resource: rolePolicyEntries(role),
  });
}

async function findTaggedRolePolicy(
  systemRepo: PostgresRepository,
  projectId: string,
  role: Role
): Promise<WithId<AccessPolicy> | undefined> {
  const policies = await systemRepo.searchResources<AccessPolicy>({
    resourceType: 'AccessPolicy',
    filters: [{ code: '_tag', operator: Operator.EQUALS, value: `${ROLE_SYSTEM}|${role}` }],
    count: 1000,
  });
  return policies.find((p) => p.meta?.project === projectId);
}

/** The role a shipped policy was made for, if it is one. */
export function roleOfPolicy(policy: AccessPolicy): Role | undefined {
  const code = policy.meta?.tag?.find((t) => t.system === ROLE_SYSTEM)?.code;
  return ROLES.find((r) => r === code);
}

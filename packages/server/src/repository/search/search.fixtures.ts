import type { Observation, Patient, Resource } from '@medplum/fhirtypes';

/** Test data for search.int.test.ts: a few patients with observations, practitioners and organizations. */
export interface Fixture {
  resource: Resource;
  lastUpdated: string;
  deleted?: boolean;
}

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

const patients: Patient[] = [
  {
    resourceType: 'Patient',
    id: 'p1',
    meta: {
      tag: [{ system: 'http://tags', code: 'vip' }],
      profile: ['http://example.org/fhir/StructureDefinition/kenya-patient'],
    },
    identifier: [{ system: 'http://mrn', value: '111' }],
    name: [{ given: ['Zoë'], family: 'Müller' }],
    gender: 'female',
    birthDate: '2024-05-10',
    active: true,
    generalPractitioner: [{ reference: 'Practitioner/pr1' }],
    managingOrganization: { reference: 'Organization/o1' },
  },
  {
    resourceType: 'Patient',
    id: 'p2',
    meta: { source: 'http://clinic.example/emr', security: [{ system: 'http://sec', code: 'R' }] },
    identifier: [
      { system: 'http://mrn', value: '222' },
      { system: 'http://other', value: 'X1' },
    ],
    name: [{ given: ['John'], family: 'Smith' }],
    telecom: [
      { system: 'phone', value: '+254700000002' },
      { system: 'email', value: 'john@example.org' },
    ],
    gender: 'male',
    birthDate: '1980-02-17',
    managingOrganization: { reference: 'https://other.example/fhir/Organization/o9' },
    generalPractitioner: [{ reference: 'Practitioner/pr2' }],
  },
  {
    resourceType: 'Patient',
    id: 'p3',
    name: [{ given: ['Johnny'], family: 'Appleseed' }],
    address: [{ line: ['1 Main St'], city: 'Nairobi', country: 'KE' }],
    gender: 'male',
    birthDate: '2024-05',
    generalPractitioner: [{ identifier: { system: 'http://npi', value: '777' } }],
    managingOrganization: { reference: 'Organization/o2' },
  },
  {
    resourceType: 'Patient',
    id: 'p4',
    name: [{ given: ['Amina'], family: 'Otieno' }],
    birthDate: '1990',
    active: false,
    telecom: [{ system: 'phone', value: '+254700000004' }],
    // An absolute reference to this server names the same target as `Practitioner/pr1`.
    generalPractitioner: [{ reference: 'http://localhost:8103/fhir/R4/Practitioner/pr1' }],
  },
];

function observation(id: string, subject: string, fields: Partial<Observation>): Observation {
  return { resourceType: 'Observation', id, status: 'final', subject: { reference: subject }, code: {}, ...fields };
}

const bp = (code: string, display: string) => ({ coding: [{ system: LOINC, code, display }] });
const mmHg = (value: number) => ({ value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });

const observations: Observation[] = [
  observation('ob1', 'Patient/p1', {
    code: bp('8480-6', 'Systolic blood pressure'),
    valueQuantity: mmHg(120),
    effectiveDateTime: '2024-05-03T10:00:00Z',
    performer: [{ reference: 'Practitioner/pr1' }],
  }),
  observation('ob2', 'Patient/p1', {
    status: 'preliminary',
    code: bp('8480-6', 'Systolic blood pressure'),
    valueQuantity: mmHg(95),
    effectiveDateTime: '2024-06-01',
  }),
  observation('ob3', 'Patient/p2', {
    code: bp('8462-4', 'Diastolic blood pressure'),
    valueQuantity: mmHg(80),
    effectiveDateTime: '2023-12-31',
  }),
  observation('ob4', 'Patient/p2', {
    code: bp('85354-9', 'Blood pressure panel'),
    component: [
      { code: bp('8480-6', 'Systolic blood pressure'), valueQuantity: mmHg(150) },
      { code: bp('8462-4', 'Diastolic blood pressure'), valueQuantity: mmHg(90) },
    ],
  }),
  observation('ob5', 'Patient/p3', {
    code: bp('29463-7', 'Body weight'),
    valueQuantity: { value: 5.4, unit: 'kg', system: UCUM, code: 'kg' },
    effectivePeriod: { start: '2024-01-01' },
  }),
  observation('ob6', 'Patient/p3', { code: { text: 'Free text code' }, valueString: 'hello' }),
  observation('ob7', 'Patient/p5', {
    code: bp('8310-5', 'Body temperature'),
    valueQuantity: { value: 37, unit: 'Cel', system: UCUM, code: 'Cel' },
  }),
];

const others: Resource[] = [
  { resourceType: 'Practitioner', id: 'pr1', name: [{ given: ['Grace'], family: 'Wanjiru' }] },
  { resourceType: 'Practitioner', id: 'pr2', name: [{ given: ['Peter'], family: 'Kamau' }] },
  { resourceType: 'Organization', id: 'o1', name: 'Kenyatta Hospital' },
  { resourceType: 'Organization', id: 'o2', name: 'Aga Khan' },
  {
    resourceType: 'RiskAssessment',
    id: 'ra1',
    status: 'final',
    subject: { reference: 'Patient/p1' },
    prediction: [{ probabilityDecimal: 0.8 }],
  },
  {
    resourceType: 'RiskAssessment',
    id: 'ra2',
    status: 'final',
    subject: { reference: 'Patient/p2' },
    prediction: [{ probabilityDecimal: 0.25 }],
  },
  // A subject that is not a Patient: `subject` finds it, `patient` (subject where it names a Patient) does not.
  {
    resourceType: 'RiskAssessment',
    id: 'ra3',
    status: 'final',
    subject: { reference: 'Group/g1', identifier: { system: 'http://groups', value: 'g1' } },
  },
];

export const FIXTURES: Fixture[] = [
  ...patients.map((resource, i) => ({ resource, lastUpdated: `2024-0${i + 1}-01T00:00:00Z` })),
  // Deleted: never matched, not even through a chain.
  {
    resource: { resourceType: 'Patient', id: 'p5', name: [{ family: 'Deleted' }] } as Patient,
    lastUpdated: '2024-05-01T00:00:00Z',
    deleted: true,
  },
  ...[...observations, ...others].map((resource) => ({ resource, lastUpdated: '2024-06-01T00:00:00Z' })),
];

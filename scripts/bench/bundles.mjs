// Transaction bundles for the ingest figure: the Synthea patient bundles in ../shared/data/synthea/
// when that folder exists, else generated bundles of the same shape (Patient, Encounters,
// Observations, Conditions; entries refer to each other by urn:uuid).
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** [{ name, body (string), entries }] and where they came from. */
export function loadBundles(root, count = 20) {
  const dir = path.resolve(root, '..', 'shared', 'data', 'synthea');
  if (existsSync(dir)) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    const bundles = [];
    for (const file of files) {
      const body = readFileSync(path.join(dir, file), 'utf8');
      const bundle = JSON.parse(body);
      if (bundle.resourceType === 'Bundle' && bundle.type === 'transaction') {
        bundles.push({ name: file, body, entries: bundle.entry?.length ?? 0 });
      }
    }
    if (bundles.length > 0) {
      return { source: `Synthea bundles in ${path.relative(root, dir)}/`, bundles };
    }
  }
  const bundles = [];
  for (let i = 0; i < count; i++) {
    const bundle = generateBundle(i);
    bundles.push({ name: `generated-${i}`, body: JSON.stringify(bundle), entries: bundle.entry.length });
  }
  return { source: `${count} generated bundles (Synthea folder not found)`, bundles };
}

const post = (resource) => {
  const fullUrl = `urn:uuid:${randomUUID()}`;
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType } };
};

const coding = (system, code, display) => ({ coding: [{ system, code, display }], text: display });
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const VITALS = [
  ['8867-4', 'Heart rate', '/min', 55, 40],
  ['8310-5', 'Body temperature', 'Cel', 36, 2],
  ['29463-7', 'Body weight', 'kg', 50, 40],
  ['8480-6', 'Systolic blood pressure', 'mm[Hg]', 100, 50],
  ['2339-0', 'Glucose', 'mg/dL', 70, 60],
];
const CONDITIONS = [
  ['44054006', 'Diabetes mellitus type 2'],
  ['38341003', 'Hypertensive disorder'],
  ['195662009', 'Acute viral pharyngitis'],
  ['66071002', 'Viral hepatitis type B'],
];

/** A patient bundle of roughly Synthea's shape: 10-40 encounters with 5 vitals each, a few conditions. */
export function generateBundle(i, encounters = 10 + ((i * 7) % 31)) {
  const patient = post({
    resourceType: 'Patient',
    identifier: [{ system: 'https://tiba.example.org/fhir/sid/bench-bundle', value: randomUUID() }],
    name: [{ family: `Generated${i}`, given: ['Bench'] }],
    gender: i % 2 ? 'male' : 'female',
    birthDate: `${1950 + (i % 60)}-0${(i % 9) + 1}-1${i % 10}`,
  });
  const entries = [patient];
  const subject = { reference: patient.fullUrl };
  for (let e = 0; e < encounters; e++) {
    const start = new Date(Date.UTC(2010 + (e % 14), e % 12, 1 + (e % 28), 9)).toISOString();
    const end = new Date(Date.parse(start) + 30 * 60_000).toISOString();
    const encounter = post({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      type: [coding(SNOMED, '185349003', 'Encounter for check up')],
      subject,
      period: { start, end },
    });
    entries.push(encounter);
    for (const [code, display, unit, base, spread] of VITALS) {
      entries.push(
        post({
          resourceType: 'Observation',
          status: 'final',
          category: [
            coding('http://terminology.hl7.org/CodeSystem/observation-category', 'vital-signs', 'Vital signs'),
          ],
          code: coding(LOINC, code, display),
          subject,
          encounter: { reference: encounter.fullUrl },
          effectiveDateTime: start,
          issued: end,
          valueQuantity: {
            value: base + ((e * 13 + i) % spread),
            unit,
            system: 'http://unitsofmeasure.org',
            code: unit,
          },
        })
      );
    }
    if (e % 8 === 0) {
      const [code, display] = CONDITIONS[(i + e) % CONDITIONS.length];
      entries.push(
        post({
          resourceType: 'Condition',
          clinicalStatus: coding('http://terminology.hl7.org/CodeSystem/condition-clinical', 'active', 'Active'),
          verificationStatus: coding(
            'http://terminology.hl7.org/CodeSystem/condition-ver-status',
            'confirmed',
            'Confirmed'
          ),
          code: coding(SNOMED, code, display),
          subject,
          encounter: { reference: encounter.fullUrl },
          onsetDateTime: start,
          recordedDate: start,
        })
      );
    }
  }
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

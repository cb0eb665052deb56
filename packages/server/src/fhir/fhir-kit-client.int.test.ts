import type { Bundle, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { Client, type FhirResource } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../test/free-port.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

/**
 * fhir-kit-client, a common third-party FHIR client, unmodified, against a listening Tiba over
 * real HTTP: discovery, create, read, search with paging, and compartment search.
 */
let t: TestServer;
let baseUrl: string;
let client: Client;
let patient: Patient;

const LOINC = 'http://loinc.org';
/** fhir-kit-client types resources as plain records; these tests read them as FHIR types. */
const as = <T>(value: Promise<FhirResource> | undefined) => value as unknown as Promise<T>;
const observation = (code: string): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: LOINC, code }] },
  subject: { reference: `Patient/${patient.id}` },
});

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}/`;
  t = await startTestServer({ BASE_URL: baseUrl });
  await t.app.listen({ port, host: '127.0.0.1' });
  client = new Client({ baseUrl: `${baseUrl}fhir/R4`, bearerToken: t.token });
});

afterAll(async () => {
  await t?.close();
});

describe('fhir-kit-client', () => {
  test('reads the SMART configuration and the CapabilityStatement', async () => {
    const smart = (await client.smartAuthMetadata()) as { authorizeUrl?: URL; tokenUrl?: URL };
    expect(String(smart.tokenUrl)).toBe(`${baseUrl}oauth2/token`);
    const statement = (await client.capabilityStatement()) as {
      fhirVersion?: string;
      rest?: { compartment?: string[] }[];
    };
    expect(statement.fhirVersion).toBe('4.0.1');
    expect(statement.rest?.[0].compartment).toContain('http://hl7.org/fhir/CompartmentDefinition/patient');
  });

  test('creates and reads', async () => {
    patient = await as<Patient>(
      client.create({
        resourceType: 'Patient',
        body: { resourceType: 'Patient', name: [{ family: 'Achieng', given: ['Grace'] }] },
      })
    );
    expect(patient.id).toBeTruthy();
    const read = await as<Patient>(client.read({ resourceType: 'Patient', id: patient.id as string }));
    expect(read.name?.[0].family).toBe('Achieng');
    for (const code of ['20447-9', '20447-9', '1742-6']) {
      await client.create({ resourceType: 'Observation', body: { ...observation(code) } });
    }
  });

  test('searches and follows the next page', async () => {
    const first = await as<Bundle>(
      client.search({
        resourceType: 'Observation',
        searchParams: { subject: `Patient/${patient.id}`, _count: 2 },
      })
    );
    expect(first.entry).toHaveLength(2);
    const second = await as<Bundle>(client.nextPage({ bundle: first as never }));
    expect(second.entry).toHaveLength(1);
  });

  test('compartment search: Patient/:id/Observation?code=…, by GET and by POST _search', async () => {
    const compartment = { resourceType: 'Patient', id: patient.id as string };
    const byGet = await as<Bundle<Observation>>(
      client.compartmentSearch({
        resourceType: 'Observation',
        compartment,
        searchParams: { code: `${LOINC}|20447-9` },
      })
    );
    expect(byGet.entry?.map((e) => e.resource?.code?.coding?.[0].code)).toEqual(['20447-9', '20447-9']);
    const byPost = await as<Bundle<Observation>>(
      client.compartmentSearch({
        resourceType: 'Observation',
        compartment,
        searchParams: { code: `${LOINC}|1742-6` },
        options: { postSearch: true },
      })
    );
    expect(byPost.entry).toHaveLength(1);

    const paged = await as<Bundle>(
      client.compartmentSearch({
        resourceType: 'Observation',
        compartment,
        searchParams: { _count: 2 },
      })
    );
    const next = await as<Bundle>(client.nextPage({ bundle: paged as never }));
    expect(next.entry).toHaveLength(1);
    expect(next.link?.find((l) => l.relation === 'self')?.url).toContain(`/fhir/R4/Patient/${patient.id}/Observation?`);
  });

  test('a type outside the compartment is an error with an OperationOutcome', async () => {
    const error = await client
      .compartmentSearch({ resourceType: 'Organization', compartment: { resourceType: 'Patient', id: 'x' } })
      .then(
        () => undefined,
        (err: { response?: { status: number; data: OperationOutcome } }) => err
      );
    expect(error?.response?.status).toBe(400);
    expect(error?.response?.data.issue?.[0].details?.text).toBe('Not in the Patient compartment: Organization');
  });
});

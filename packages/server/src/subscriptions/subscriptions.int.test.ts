import { createHmac } from 'node:crypto';
import type { AuditEvent, Bundle, Patient, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TestMembers } from '../test/members.js';
import { startTestServer, type TestServer } from '../test/test-server.js';
import {
  FHIRPATH_CRITERIA_URL,
  MAX_ATTEMPTS_URL,
  SECRET_URL,
  SUPPORTED_INTERACTION_URL,
  subscriptionSecret,
} from './extensions.js';
import { createSubscription, TestReceiver } from './receiver.fixtures.js';

let server: TestServer;
let receiver: TestReceiver;

beforeAll(async () => {
  server = await startTestServer({
    OUTBOX_POLL_MS: '100',
    SUBSCRIPTION_RETRY_DELAY_MS: '100',
    REST_HOOK_TIMEOUT_MS: '1000',
  });
  receiver = await TestReceiver.start();
});

afterAll(async () => {
  await receiver?.stop();
  await server?.close();
});

function subscribe(criteria: string, extra: Partial<Subscription> = {}, endpoint = receiver.url()) {
  return createSubscription(server, criteria, endpoint, extra);
}

async function write(method: 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) {
  const res = await server.request({ method, url: `/fhir/R4/${url}`, payload });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res.body ? res.json() : undefined;
}

async function readSubscription(id: string): Promise<Subscription> {
  return (await server.request({ method: 'GET', url: `/fhir/R4/Subscription/${id}` })).json();
}

/**
 * The delivery AuditEvents of a Subscription, oldest first, once `done` holds for them (or after
 * 10 s). The audit log writes in batches, so an attempt's event lands a little after the attempt.
 */
async function deliveryEvents(subscriptionId: string, done: (events: AuditEvent[]) => boolean): Promise<AuditEvent[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await server.request({
      method: 'GET',
      url: `/fhir/R4/AuditEvent?entity=Subscription/${subscriptionId}&type=transmit&_sort=date&_count=50`,
    });
    const events = ((res.json() as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource as AuditEvent);
    if (done(events) || Date.now() > deadline) {
      return events;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('rest-hook subscriptions', () => {
  test('create, update and delete deliver the resource, the channel headers and a verifiable signature', async () => {
    const subscription = await subscribe('Patient?family=Hookfamily', {
      channel: {
        type: 'rest-hook',
        endpoint: receiver.url('/patients'),
        header: ['Authorization: Bearer hook-token', 'X-Tenant: clinic-7'],
      },
    });
    // The server generated a secret, readable by the admin who created it.
    const secret = subscriptionSecret(subscription);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(subscription.extension?.find((e) => e.url === SECRET_URL)?.valueString).toBe(secret);

    const patient = (await write('POST', 'Patient', {
      resourceType: 'Patient',
      name: [{ family: 'Hookfamily' }],
    })) as Patient & { id: string };
    await receiver.waitFor(() => receiver.for(subscription.id).length === 1);
    const created = receiver.for(subscription.id)[0];
    expect(created.method).toBe('POST');
    expect(created.url).toBe('/patients');
    expect(created.headers['content-type']).toBe('application/fhir+json');
    expect(created.headers.authorization).toBe('Bearer hook-token');
    expect(created.headers['x-tenant']).toBe('clinic-7');
    expect(created.headers['x-medplum-interaction']).toBe('create');
    expect(created.headers['x-signature']).toBe(
      createHmac('sha256', secret as string)
        .update(created.body)
        .digest('hex')
    );
    expect(JSON.parse(created.body)).toEqual(patient);

    const updated = await write('PUT', `Patient/${patient.id}`, { ...patient, gender: 'female' });
    await receiver.waitFor(() => receiver.for(subscription.id).length === 2);
    const second = receiver.for(subscription.id)[1];
    expect(second.headers['x-medplum-interaction']).toBe('update');
    expect(JSON.parse(second.body)).toEqual(updated);

    await write('DELETE', `Patient/${patient.id}`);
    await receiver.waitFor(() => receiver.for(subscription.id).length === 3);
    const deleted = receiver.for(subscription.id)[2];
    expect(deleted.headers['x-medplum-interaction']).toBe('delete');
    expect(deleted.headers['x-medplum-deleted-resource']).toBe(`Patient/${patient.id}`);
    expect(deleted.body).toBe('{}');
    expect(deleted.headers['x-signature']).toBe(
      createHmac('sha256', secret as string)
        .update('{}')
        .digest('hex')
    );

    // A Patient the criteria do not match triggers nothing (checked after a later match arrives).
    await write('POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Otherfamily' }] });
    await write('POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Hookfamily' }] });
    await receiver.waitFor(() => receiver.for(subscription.id).length === 4);
    expect(JSON.parse(receiver.for(subscription.id)[3].body).name[0].family).toBe('Hookfamily');
  });

  test('the secret survives an update that leaves it out, and only admins can read it', async () => {
    const subscription = await subscribe('Organization');
    const secret = subscriptionSecret(subscription);
    const { extension: _dropped, ...withoutSecret } = subscription;
    const updated = await write('PUT', `Subscription/${subscription.id}`, { ...withoutSecret, reason: 'renamed' });
    expect(subscriptionSecret(updated)).toBe(secret);

    const members = await TestMembers.open(server);
    try {
      const practitioner = await members.create({ resourceType: 'Practitioner', name: [{ family: 'Reader' }] });
      const clinician = await members.add(practitioner, { role: 'clinician' });
      const read = await clinician.request({ method: 'GET', url: `/fhir/R4/Subscription/${subscription.id}` });
      expect([403, 404]).toContain(read.statusCode);
      expect(read.body).not.toContain(secret);
    } finally {
      await members.close();
    }
  });

  test('search criteria and a FHIRPath criteria with %previous filter deliveries', async () => {
    const final = await subscribe('Observation?status=final');
    const genderChange = await subscribe('Patient', {
      extension: [{ url: FHIRPATH_CRITERIA_URL, valueString: '%previous.gender != %current.gender' }],
    });
    const observation = {
      resourceType: 'Observation',
      status: 'preliminary',
      code: { text: 'weight' },
    };
    const prelim = await write('POST', 'Observation', observation);
    await write('PUT', `Observation/${prelim.id}`, { ...prelim, status: 'final' });
    const patient = await write('POST', 'Patient', { resourceType: 'Patient', gender: 'male' });
    const renamed = await write('PUT', `Patient/${patient.id}`, { ...patient, name: [{ family: 'Same' }] });
    await write('PUT', `Patient/${patient.id}`, { ...renamed, gender: 'female' });

    await receiver.waitFor(() => receiver.for(final.id).length >= 1 && receiver.for(genderChange.id).length >= 1);
    // Wait for a later marker delivery: everything written before it has been relayed.
    const marker = await subscribe('Basic');
    await write('POST', 'Basic', { resourceType: 'Basic', code: { text: 'marker' } });
    await receiver.waitFor(() => receiver.for(marker.id).length === 1);

    expect(receiver.for(final.id).map((r) => JSON.parse(r.body).status)).toEqual(['final']);
    // Only the update that changed the gender (a create has no previous gender to differ from).
    expect(receiver.for(genderChange.id).map((r) => JSON.parse(r.body).gender)).toEqual(['female']);
  });

  test('the supported-interaction extension limits deliveries to create, update or delete', async () => {
    const onCreate = await subscribe('Device', {
      extension: [{ url: SUPPORTED_INTERACTION_URL, valueCode: 'create' }],
    });
    const onDelete = await subscribe('Device', {
      extension: [{ url: SUPPORTED_INTERACTION_URL, valueCode: 'delete' }],
    });
    const device = await write('POST', 'Device', { resourceType: 'Device', distinctIdentifier: 'd1' });
    // The create is delivered before the next writes: a create whose resource is deleted by the
    // time its job runs is not delivered (as in Medplum), so it must not race the delete.
    await receiver.waitFor(() => receiver.for(onCreate.id).length === 1);
    await write('PUT', `Device/${device.id}`, { ...device, distinctIdentifier: 'd2' });
    await write('DELETE', `Device/${device.id}`);
    await receiver.waitFor(() => receiver.for(onDelete.id).length === 1);
    // A later create, relayed after the update and the delete, marks the end.
    const marker = await write('POST', 'Device', { resourceType: 'Device', distinctIdentifier: 'd3' });
    await receiver.waitFor(() => receiver.for(onCreate.id).length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.for(onCreate.id).map((r) => r.headers['x-medplum-interaction'])).toEqual(['create', 'create']);
    expect(receiver.for(onCreate.id).map((r) => JSON.parse(r.body).id)).toEqual([device.id, marker.id]);
    expect(receiver.for(onDelete.id).map((r) => r.headers['x-medplum-interaction'])).toEqual(['delete']);
  });

  test("a transaction's entries each trigger; a rolled-back transaction triggers nothing", async () => {
    const subscription = await subscribe('Location');
    const entries = ['A', 'B', 'C'].map((name) => ({
      request: { method: 'POST', url: 'Location' },
      resource: { resourceType: 'Location', name: `tx-${name}` },
    }));
    const tx = await server.request({
      method: 'POST',
      url: '/fhir/R4',
      payload: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    });
    expect(tx.statusCode, tx.body).toBe(200);
    await receiver.waitFor(() => receiver.for(subscription.id).length === 3);
    expect(
      receiver
        .for(subscription.id)
        .map((r) => JSON.parse(r.body).name)
        .sort()
    ).toEqual(['tx-A', 'tx-B', 'tx-C']);

    const failing = await server.request({
      method: 'POST',
      url: '/fhir/R4',
      payload: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'Location' }, resource: { resourceType: 'Location', name: 'rolled-back' } },
          {
            request: { method: 'PUT', url: 'Location/missing', ifMatch: 'W/"1"' },
            resource: { resourceType: 'Location', id: 'missing' },
          },
        ],
      },
    });
    expect(failing.statusCode, failing.body).toBeGreaterThanOrEqual(400);
    await write('POST', 'Location', { resourceType: 'Location', name: 'after' });
    await receiver.waitFor(() => receiver.for(subscription.id).length === 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.for(subscription.id).map((r) => JSON.parse(r.body).name)).not.toContain('rolled-back');
    expect(receiver.for(subscription.id)).toHaveLength(4);
  });
});

describe('delivery failures', () => {
  test('a receiver that is down is retried with backoff and gets the delivery once it is back', async () => {
    const down = await TestReceiver.start();
    const port = down.port;
    await down.stop();
    const subscription = await subscribe(
      'Medication',
      {
        extension: [{ url: MAX_ATTEMPTS_URL, valueInteger: 6 }],
      },
      down.url()
    );
    const medication = await write('POST', 'Medication', { resourceType: 'Medication', code: { text: 'amoxicillin' } });
    // Back once two attempts have failed, however long they took to come.
    const failedFirst = await deliveryEvents(subscription.id, (events) => events.length >= 2);
    expect(failedFirst.length).toBeGreaterThanOrEqual(2);
    expect(failedFirst.every((e) => e.outcome === '4')).toBe(true);
    await down.listen(port);
    try {
      await down.waitFor(() => down.received.length === 1, 10_000);
      expect(JSON.parse(down.received[0].body).id).toBe(medication.id);
      const events = await deliveryEvents(subscription.id, (found) => found.some((e) => e.outcome === '0'));
      const outcomes = events.map((e) => e.outcome);
      // Failed attempts (connection refused), then the success.
      expect(outcomes.at(-1)).toBe('0');
      expect(outcomes.slice(0, -1).every((o) => o === '4')).toBe(true);
      expect(outcomes.length).toBeGreaterThanOrEqual(3);
      expect(events[0].outcomeDesc).toMatch(/^Attempt 1 of 6 \(create\): Request failed/);
      expect(events.at(-1)?.outcomeDesc).toMatch(/HTTP 200$/);
      expect(events[0].entity?.map((e) => e.what?.reference)).toEqual([
        `Medication/${medication.id}`,
        `Subscription/${subscription.id}`,
      ]);
      expect((await readSubscription(subscription.id)).status).toBe('active');
    } finally {
      await down.stop();
    }
  });

  test('after the last failed attempt the Subscription is in error; a later success makes it active again', async () => {
    const flaky = await TestReceiver.start();
    flaky.respond = () => 500;
    try {
      const subscription = await subscribe(
        'Substance',
        { extension: [{ url: MAX_ATTEMPTS_URL, valueInteger: 3 }] },
        flaky.url()
      );
      await write('POST', 'Substance', { resourceType: 'Substance', code: { text: 'x' } });
      await flaky.waitFor(() => flaky.received.length === 3);
      const gaps = [flaky.received[1].at - flaky.received[0].at, flaky.received[2].at - flaky.received[1].at];
      // Exponential backoff from 100 ms: at least 100 ms, then at least 200 ms (a loaded machine adds to either).
      expect(gaps[0]).toBeGreaterThanOrEqual(90);
      expect(gaps[1]).toBeGreaterThanOrEqual(190);
      let failed: Subscription | undefined;
      for (let i = 0; i < 50 && failed?.status !== 'error'; i++) {
        failed = await readSubscription(subscription.id);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(failed?.status).toBe('error');
      expect(failed?.error).toMatch(/after 3 attempt\(s\): HTTP 500/);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(flaky.received).toHaveLength(3); // no fourth attempt
      const events = await deliveryEvents(subscription.id, (found) => found.length >= 3);
      expect(events.map((e) => e.outcome)).toEqual(['4', '4', '4']);

      flaky.respond = () => 204;
      await write('POST', 'Substance', { resourceType: 'Substance', code: { text: 'y' } });
      await flaky.waitFor(() => flaky.received.length === 4);
      let recovered: Subscription | undefined;
      for (let i = 0; i < 50 && recovered?.status !== 'active'; i++) {
        recovered = await readSubscription(subscription.id);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(recovered?.status).toBe('active');
      expect(recovered?.error).toBeUndefined();
    } finally {
      await flaky.stop();
    }
  });

  test('a hanging receiver is cut at the timeout', async () => {
    const hanging = await TestReceiver.start();
    hanging.respond = () => 'hang';
    try {
      const subscription = await subscribe(
        'Specimen',
        { extension: [{ url: MAX_ATTEMPTS_URL, valueInteger: 1 }] },
        hanging.url()
      );
      await write('POST', 'Specimen', { resourceType: 'Specimen', note: [{ text: 'slow' }] });
      await hanging.waitFor(() => hanging.received.length === 1);
      const started = Date.now();
      const [event] = await deliveryEvents(subscription.id, (found) => found.length >= 1);
      // REST_HOOK_TIMEOUT_MS=1000 for this server.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(event.outcome).toBe('4');
      expect(event.outcomeDesc).toBe('Attempt 1 of 1 (create): No answer within 1000 ms');
    } finally {
      await hanging.stop();
    }
  });
});

describe('retries deliver the version that triggered them', () => {
  test('a create-only subscription gets the create on a retry after the resource was updated', async () => {
    const down = await TestReceiver.start();
    const port = down.port;
    await down.stop();
    const subscription = await subscribe(
      'Condition',
      {
        extension: [
          { url: SUPPORTED_INTERACTION_URL, valueCode: 'create' },
          { url: MAX_ATTEMPTS_URL, valueInteger: 8 },
        ],
      },
      down.url()
    );
    const created = await write('POST', 'Condition', {
      resourceType: 'Condition',
      subject: { display: 'x' },
      code: { text: 'first' },
    });
    const failed = await deliveryEvents(subscription.id, (events) => events.length >= 1);
    expect(failed[0]?.outcome).toBe('4');
    // Updated before the retry that reaches the receiver: the update itself is no trigger.
    const updated = await write('PUT', `Condition/${created.id}`, { ...created, code: { text: 'second' } });
    expect(updated.meta.versionId).not.toBe(created.meta.versionId);
    await down.listen(port);
    try {
      await down.waitFor(() => down.received.length === 1, 15_000);
      const delivered = down.received[0];
      expect(delivered.headers['x-medplum-interaction']).toBe('create');
      expect(JSON.parse(delivered.body)).toEqual(created);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(down.received).toHaveLength(1);
    } finally {
      await down.stop();
    }
  });
});

describe('rest-hook endpoints on private networks (REST_HOOK_ALLOWED_HOSTS)', () => {
  async function waitForStatus(t: TestServer, id: string, status: string): Promise<Subscription> {
    let current: Subscription | undefined;
    for (let i = 0; i < 100 && current?.status !== status; i++) {
      if (i > 0) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      current = (await t.request({ method: 'GET', url: `/fhir/R4/Subscription/${id}` })).json();
    }
    return current as Subscription;
  }

  test('by default loopback endpoints, IPv4-mapped IPv6 ones included, are refused without retries', async () => {
    const strict = await startTestServer({ REST_HOOK_ALLOWED_HOSTS: '', OUTBOX_POLL_MS: '100' });
    const target = await TestReceiver.start();
    try {
      const endpoints = [
        `http://127.0.0.1:${target.port}/`,
        `http://[::ffff:7f00:1]:${target.port}/`,
        `http://localhost:${target.port}/`,
      ];
      const subscriptions = [];
      for (const endpoint of endpoints) {
        subscriptions.push(
          await createSubscription(strict, 'Patient', endpoint, {
            extension: [{ url: MAX_ATTEMPTS_URL, valueInteger: 3 }],
          })
        );
      }
      const res = await strict.request({
        method: 'POST',
        url: '/fhir/R4/Patient',
        payload: { resourceType: 'Patient', name: [{ family: 'Ssrf' }] },
      });
      expect(res.statusCode).toBe(201);
      const hosts = ['127.0.0.1', '[::ffff:7f00:1]', 'localhost'];
      for (const [i, subscription] of subscriptions.entries()) {
        const failed = await waitForStatus(strict, subscription.id, 'error');
        expect(failed.status).toBe('error');
        expect(failed.error).toBe(
          `endpoint not allowed: ${hosts[i]} resolves to a private address (REST_HOOK_ALLOWED_HOSTS)`
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(target.received).toHaveLength(0);
      // One attempt each (max-attempts is 3): a refused endpoint is not retried. The audit log
      // writes in batches: wait for the first event, then check no other came with it.
      for (const subscription of subscriptions) {
        let outcomes: (string | undefined)[] = [];
        for (let i = 0; i < 100 && outcomes.length === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const events = await strict.request({
            method: 'GET',
            url: `/fhir/R4/AuditEvent?entity=Subscription/${subscription.id}&type=transmit`,
          });
          outcomes = ((events.json() as Bundle<AuditEvent>).entry ?? []).map((e) => e.resource?.outcomeDesc);
        }
        const error = (await waitForStatus(strict, subscription.id, 'error')).error;
        expect(outcomes).toEqual([`Attempt 1 of 3 (create): ${error}`]);
      }
    } finally {
      await target.stop();
      await strict.close();
    }
  });

  test('an endpoint listed as host:port is delivered', async () => {
    const target = await TestReceiver.start();
    const allowing = await startTestServer({
      REST_HOOK_ALLOWED_HOSTS: `other.example:443, 127.0.0.1:${target.port}`,
      OUTBOX_POLL_MS: '100',
    });
    try {
      const subscription = await createSubscription(allowing, 'Patient', `http://127.0.0.1:${target.port}/`);
      const res = await allowing.request({
        method: 'POST',
        url: '/fhir/R4/Patient',
        payload: { resourceType: 'Patient', name: [{ family: 'Allowed' }] },
      });
      expect(res.statusCode).toBe(201);
      await target.waitFor(() => target.for(subscription.id).length === 1);
      expect(JSON.parse(target.for(subscription.id)[0].body).id).toBe(res.json().id);
      expect((await waitForStatus(allowing, subscription.id, 'active')).status).toBe('active');
    } finally {
      await target.stop();
      await allowing.close();
    }
  });
});

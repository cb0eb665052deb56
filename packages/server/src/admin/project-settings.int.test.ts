import type { Project } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TestMembers } from '../test/members.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

describe('POST /admin/projects/:projectId/secrets and /settings', () => {
  let server: TestServer;
  let projectId: string;

  beforeAll(async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: 'seeded-token', TWILIO_FROM: '+15005550006' });
    const me = await server.request({ method: 'GET', url: '/auth/me' });
    projectId = me.json().project.id;
  });

  afterAll(async () => {
    await server?.close();
  });

  const post = (payload: unknown, url = `/admin/projects/${projectId}/secrets`) =>
    server.request({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });

  test('replaces the secrets; no API read shows their values', async () => {
    const res = await post([
      { name: 'TWILIO_AUTH_TOKEN', valueString: 'rotated-token' },
      { name: 'RETRIES', valueInteger: 3 },
    ]);
    expect(res.statusCode).toBe(200);
    expect(res.json().secret).toBeUndefined();
    const read = await server.request({ method: 'GET', url: `/fhir/R4/Project/${projectId}` });
    expect(read.statusCode).toBe(200);
    expect((read.json() as Project).secret).toBeUndefined();
    expect(read.body).not.toContain('rotated-token');
    expect(read.body).not.toContain('seeded-token');
  });

  test('settings are replaced and readable; secrets stay as they were', async () => {
    const res = await post(
      [
        { name: 'messagingTimeZone', valueString: 'Africa/Nairobi' },
        { name: 'messagingTemplate:help:sw', valueString: 'Msaada: piga {{phone}}.' },
      ],
      `/admin/projects/${projectId}/settings`
    );
    expect(res.statusCode).toBe(200);
    const read = (await server.request({ method: 'GET', url: `/fhir/R4/Project/${projectId}` })).json() as Project;
    expect(read.setting).toEqual([
      { name: 'messagingTimeZone', valueString: 'Africa/Nairobi' },
      { name: 'messagingTemplate:help:sw', valueString: 'Msaada: piga {{phone}}.' },
    ]);
    expect(
      (await post([{ name: 'bad name', valueString: 'x' }], `/admin/projects/${projectId}/settings`)).statusCode
    ).toBe(400);
  });

  test('refuses what is not a list of named single values', async () => {
    for (const body of [
      {},
      [{ valueString: 'x' }],
      [{ name: 'A', valueString: 'x', valueInteger: 1 }],
      [{ name: 'A', valueInteger: 1.5 }],
      [{ name: 'A', valueString: '' }],
      [
        { name: 'A', valueString: 'x' },
        { name: 'A', valueString: 'y' },
      ],
      [{ name: 'bad name', valueString: 'x' }],
    ]) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
  });

  test('is for the project admins only; a clinician reads no secret either', async () => {
    const members = await TestMembers.open(server);
    try {
      const practitioner = await members.create({ resourceType: 'Practitioner', name: [{ family: 'Wanjiru' }] });
      const clinician = await members.add(practitioner, { role: 'clinician' });
      const attempt = await clinician.request({
        method: 'POST',
        url: `/admin/projects/${projectId}/secrets`,
        headers: { 'content-type': 'application/json' },
        payload: '[]',
      });
      expect(attempt.statusCode).toBe(403);
      const read = await clinician.request({ method: 'GET', url: `/fhir/R4/Project/${projectId}` });
      expect(read.body).not.toContain('rotated-token');
    } finally {
      await members.close();
    }
    const anonymous = await server.app.inject({
      method: 'POST',
      url: `/admin/projects/${projectId}/secrets`,
      headers: { 'content-type': 'application/json' },
      payload: '[]',
    });
    expect(anonymous.statusCode).toBe(401);
  });
});

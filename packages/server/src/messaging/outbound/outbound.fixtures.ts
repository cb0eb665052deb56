import { randomBytes } from 'node:crypto';
import { Operator, type WithId } from '@medplum/core';
import type { Bundle, Communication, CommunicationRequest, Endpoint, Patient, Project } from '@medplum/fhirtypes';
import { Queue } from 'bullmq';
import { expect } from 'vitest';
import { createPool, type Pool } from '../../infra/postgres.js';
import { bullPrefix, createBullConnection } from '../../jobs/queues.js';
import { createRepositoryFactory } from '../../repository/factory.js';
import type { PostgresRepository } from '../../repository/repository.js';
import { freePort } from '../../test/free-port.js';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { CHANNEL_NUMBER_SYSTEM } from '../channels.js';
import { MEDIUM_CODINGS } from '../medium.js';
import { startTwilioStandIn, type TwilioStandIn } from '../twilio-stand-in/stand-in.js';
import { OUTBOUND_QUEUE } from './outbound-queue.js';
import { QUIET_HOURS_SETTING, TIME_ZONE_SETTING } from './request-parts.js';

export const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
export const AUTH_TOKEN = randomBytes(16).toString('hex');
export const SMS_NUMBER = '+15005550006';
export const WHATSAPP_NUMBER = '+14155238886';

/** A phone number no other test uses. */
export const newPhone = () => `+2547${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;

/**
 * A listening Tiba server (status callbacks must reach it over HTTP) whose default project's SMS
 * channel talks to a Twilio stand-in, plus a system repository and the outbound queue for checks.
 */
export class OutboundHarness {
  private constructor(
    readonly server: TestServer,
    readonly standIn: TwilioStandIn,
    readonly systemRepo: PostgresRepository,
    readonly projectId: string,
    readonly queue: Queue,
    private readonly pool: Pool
  ) {}

  static async start(env: Record<string, string> = {}): Promise<OutboundHarness> {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}/`;
    const standIn = await startTwilioStandIn({
      accounts: [
        { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, numbers: [SMS_NUMBER, `whatsapp:${WHATSAPP_NUMBER}`] },
      ],
      inboundUrl: `${baseUrl}messaging/twilio/inbound`,
      callbackDelayMs: 5,
    });
    const server = await startTestServer({
      PORT: String(port),
      HOST: '127.0.0.1',
      BASE_URL: baseUrl,
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_FROM: SMS_NUMBER,
      TWILIO_WHATSAPP_FROM: `whatsapp:${WHATSAPP_NUMBER}`,
      TWILIO_API_BASE_URL: standIn.url,
      OUTBOUND_RETRY_DELAY_MS: '100',
      OUTBOUND_MAX_ATTEMPTS: '3',
      ...env,
    });
    await server.server.listen();
    const pool = createPool(server.config.databaseUrl, 2);
    const systemRepo = createRepositoryFactory(server.config, pool).system('test assertions');
    const [channel] = await systemRepo.searchResources<Endpoint>({
      resourceType: 'Endpoint',
      filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${CHANNEL_NUMBER_SYSTEM.sms}|${SMS_NUMBER}` }],
    });
    const queue = new Queue(OUTBOUND_QUEUE, {
      connection: createBullConnection(server.config.redisUrl),
      prefix: bullPrefix(server.config),
    });
    const harness = new OutboundHarness(server, standIn, systemRepo, channel.meta?.project as string, queue, pool);
    // Most tests send at once whatever the hour; the quiet-hours test turns them on for itself.
    await harness.setMessagingSettings({ [QUIET_HOURS_SETTING]: 'off' });
    return harness;
  }

  async close(): Promise<void> {
    await this.standIn.settled();
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.queue.close();
    await this.pool.end();
    await this.server.close();
    await this.standIn.close();
  }

  async setMessagingSettings(values: Record<string, string>): Promise<void> {
    const project = await this.systemRepo.readResource<Project>('Project', this.projectId);
    const names = new Set([TIME_ZONE_SETTING, QUIET_HOURS_SETTING]);
    const setting = [
      ...(project.setting ?? []).filter((s) => !names.has(s.name)),
      ...Object.entries(values).map(([name, valueString]) => ({ name, valueString })),
    ];
    await this.systemRepo.updateResource<Project>({ ...project, setting });
  }

  async createPatient(phone: string): Promise<WithId<Patient>> {
    return this.create<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Amina'], family: 'Otieno' }],
      telecom: [{ system: 'phone', use: 'mobile', value: phone }],
    });
  }

  /** An active SMS request to the patient (overrides go on top). */
  async createRequest(patient: WithId<Patient>, text: string, extra: Partial<CommunicationRequest> = {}) {
    return this.create<CommunicationRequest>({
      resourceType: 'CommunicationRequest',
      status: 'active',
      subject: { reference: `Patient/${patient.id}` },
      recipient: [{ reference: `Patient/${patient.id}` }],
      medium: [{ coding: MEDIUM_CODINGS.sms }],
      payload: [{ contentString: text }],
      ...extra,
    });
  }

  async create<T extends { resourceType: string }>(resource: T): Promise<WithId<T>> {
    const res = await this.server.request({
      method: 'POST',
      url: `/fhir/R4/${resource.resourceType}`,
      payload: resource,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as WithId<T>;
  }

  async read<T>(reference: string): Promise<T> {
    const res = await this.server.request({ method: 'GET', url: `/fhir/R4/${reference}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as T;
  }

  /** The Communications based on a request (through the API, as a client sees them). */
  async messagesFor(requestId: string): Promise<Communication[]> {
    const res = await this.server.request({
      method: 'GET',
      url: `/fhir/R4/Communication?based-on=CommunicationRequest/${requestId}`,
    });
    expect(res.statusCode, res.body).toBe(200);
    return ((res.json() as Bundle<Communication>).entry ?? []).map((e) => e.resource as Communication);
  }

  /** Polls until the request's message satisfies `done` (10 s at most), and returns it. */
  async waitForMessage(requestId: string, done: (c: Communication) => boolean): Promise<Communication> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [message, ...others] = await this.messagesFor(requestId);
      expect(others).toHaveLength(0);
      if (message && done(message)) {
        return message;
      }
      if (Date.now() > deadline) {
        throw new Error(`Request ${requestId}: message still ${JSON.stringify(message)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Polls until the request has `status` (the sender writes the message first, then the request). */
  async waitForRequestStatus(requestId: string, status: CommunicationRequest['status']): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await this.read<CommunicationRequest>(`CommunicationRequest/${requestId}`)).status !== status) {
      if (Date.now() > deadline) {
        throw new Error(`CommunicationRequest/${requestId} did not become ${status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Waits until every job of this request's versions is finished (completed, failed or delayed); returns them. */
  async waitForJobs(requestId: string) {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const jobs = await this.queue.getJobs(['active', 'waiting', 'prioritized', 'completed', 'failed', 'delayed']);
      const mine = jobs.filter((j) => j?.data?.requestId === requestId);
      const states = await Promise.all(mine.map((j) => j.getState()));
      if (mine.length > 0 && states.every((s) => s === 'completed' || s === 'failed' || s === 'delayed')) {
        return mine.map((job, i) => ({ job, state: states[i] }));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Jobs of ${requestId} did not finish`);
  }

  /** The messages the stand-in received from Tiba for a handset. */
  sentTo(phone: string, channel: 'sms' | 'whatsapp' = 'sms') {
    return this.standIn
      .thread(phone)
      .filter((m) => m.direction === 'outbound-api' && m.to.startsWith('whatsapp:') === (channel === 'whatsapp'));
  }
}

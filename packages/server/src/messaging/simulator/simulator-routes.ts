import { badRequest, notFound, OperationOutcomeError, Operator, type WithId } from '@medplum/core';
import type { Endpoint } from '@medplum/fhirtypes';
import type { FastifyInstance, preHandlerHookHandler } from 'fastify';
import { sendOutcome } from '../../fhir/response.js';
import type { RepositoryFactory } from '../../repository/factory.js';
import { CHANNEL_NUMBER_SYSTEM, CHANNEL_TYPE_CODE, CHANNEL_TYPE_SYSTEM } from '../channels.js';
import { formatTwilioAddress, type MessagingMedium, normalizePhone } from '../phone.js';
import type { TwilioStandIn } from '../twilio-stand-in/stand-in.js';
import type { TwilioMessage } from '../twilio-stand-in/stand-in-state.js';
import { USSD_CALLBACK_PATH } from '../ussd/seed-ussd-channel.js';
import {
  callbackKeyOf,
  USSD_CHANNEL_TYPE_CODE,
  USSD_SERVICE_CODE_SYSTEM,
  type UssdChannel,
} from '../ussd/ussd-channel.js';
import { requireSimulatorUser } from './simulator-access.js';

export interface SimulatorRoutesOptions {
  standIn: TwilioStandIn;
  repositories: RepositoryFactory;
  authenticate: preHandlerHookHandler;
}

/** Twilio's limit on one message's text. */
const MAX_TEXT_CHARACTERS = 1600;

/** A Twilio channel of the caller's project, as the simulator offers it. */
interface SimulatorChannel {
  id: string;
  name: string;
  medium: MessagingMedium;
  /** The channel's address as Twilio writes it: `+1500…` or `whatsapp:+1415…`. */
  address: string;
}

/** A USSD channel of the caller's project. */
interface SimulatorUssdChannel {
  id: string;
  name: string;
  serviceCode: string;
}

/** Safaricom Kenya's network code, as Africa's Talking sends it. */
const SIMULATED_NETWORK_CODE = '63902';
const SESSION_ID = /^[\w-]{1,64}$/;
/** What a handset lets one type into a USSD answer, and more. */
const MAX_USSD_TEXT = 182;

/** A message as the handset sees it. */
interface HandsetMessage {
  sid: string;
  /** `in`: the handset sent it; `out`: the clinic did. */
  direction: 'in' | 'out';
  medium: MessagingMedium;
  channel: string;
  body: string;
  status: string;
  errorCode: number | null;
  date: string;
}

/**
 * The phone simulator's API (staff only, and only with the Twilio stand-in on): the project's
 * channels, a handset's thread as the stand-in holds it, and texting from a handset, which
 * the stand-in delivers to the real inbound webhook with a valid signature.
 */
export async function simulatorRoutes(app: FastifyInstance, options: SimulatorRoutesOptions): Promise<void> {
  const { standIn, repositories } = options;
  const systemRepo = repositories.system('read the USSD callback key the simulated gateway calls with');
  const route = { preHandler: options.authenticate };

  /** The project's active channel Endpoints of these connection types. */
  async function activeEndpoints(projectId: string, typeCodes: readonly string[]): Promise<WithId<Endpoint>[]> {
    const repo = repositories.inProject(projectId, { reference: 'system' }, 'list the channels the simulator offers');
    return repo.searchResources<Endpoint>({
      resourceType: 'Endpoint',
      filters: [
        { code: 'status', operator: Operator.EQUALS, value: 'active' },
        {
          code: 'connection-type',
          operator: Operator.EQUALS,
          value: typeCodes.map((code) => `${CHANNEL_TYPE_SYSTEM}|${code}`).join(','),
        },
      ],
      count: 50,
    });
  }

  async function projectChannels(projectId: string): Promise<SimulatorChannel[]> {
    const endpoints = await activeEndpoints(projectId, Object.values(CHANNEL_TYPE_CODE));
    return endpoints.flatMap((endpoint) => {
      const medium = (Object.keys(CHANNEL_TYPE_CODE) as MessagingMedium[]).find(
        (m) => endpoint.connectionType?.code === CHANNEL_TYPE_CODE[m]
      );
      const phone = endpoint.identifier?.find((i) => medium && i.system === CHANNEL_NUMBER_SYSTEM[medium])?.value;
      return medium && phone
        ? [{ id: endpoint.id, name: endpoint.name ?? phone, medium, address: formatTwilioAddress({ medium, phone }) }]
        : [];
    });
  }

  async function projectUssdChannels(projectId: string): Promise<UssdChannel[]> {
    const endpoints = await activeEndpoints(projectId, [USSD_CHANNEL_TYPE_CODE]);
    return endpoints.flatMap((endpoint) => {
      const serviceCode = endpoint.identifier?.find((i) => i.system === USSD_SERVICE_CODE_SYSTEM)?.value;
      return serviceCode ? [{ endpoint, projectId, serviceCode }] : [];
    });
  }

  app.get('/messaging/simulator', route, async (request) => {
    const projectId = await requireSimulatorUser(request, repositories);
    const ussd: SimulatorUssdChannel[] = (await projectUssdChannels(projectId)).map((c) => ({
      id: c.endpoint.id,
      name: c.endpoint.name ?? c.serviceCode,
      serviceCode: c.serviceCode,
    }));
    return { channels: await projectChannels(projectId), ussd };
  });

  app.post<{ Body: { channel?: unknown; phone?: unknown; sessionId?: unknown; text?: unknown } }>(
    '/messaging/simulator/ussd',
    route,
    async (request, reply) => {
      const projectId = await requireSimulatorUser(request, repositories);
      const { channel: channelId, phone: rawPhone, sessionId, text } = request.body ?? {};
      const phone = requirePhone(rawPhone);
      if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) {
        throw new OperationOutcomeError(badRequest('sessionId must be 1-64 letters, digits, _ or -', 'sessionId'));
      }
      if (typeof text !== 'string' || text.length > MAX_USSD_TEXT) {
        throw new OperationOutcomeError(badRequest(`text must be at most ${MAX_USSD_TEXT} characters`, 'text'));
      }
      const channel = (await projectUssdChannels(projectId)).find((c) => c.endpoint.id === channelId);
      if (!channel) {
        throw new OperationOutcomeError(notFound);
      }
      const key = await callbackKeyOf(systemRepo, channel);
      if (!key) {
        throw new OperationOutcomeError(badRequest('The USSD channel has no callback key in the project secrets'));
      }
      // Through the whole HTTP pipeline, as the gateway's request would go.
      const answer = await app.inject({
        method: 'POST',
        url: `/${USSD_CALLBACK_PATH}?key=${encodeURIComponent(key)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          sessionId,
          serviceCode: channel.serviceCode,
          phoneNumber: phone,
          networkCode: SIMULATED_NETWORK_CODE,
          text,
        }).toString(),
      });
      const screen = /^(CON|END) ([\s\S]*)$/.exec(answer.body);
      if (answer.statusCode !== 200 || !screen) {
        // The callback's own refusal (an OperationOutcome), or 502 when it answered something that is no screen.
        const status = answer.statusCode >= 400 && answer.statusCode < 500 ? answer.statusCode : 502;
        const detail = `The USSD callback answered ${answer.statusCode}: ${answer.body.slice(0, 300)}`;
        return sendOutcome(reply, status, badRequest(detail));
      }
      return { kind: screen[1], text: screen[2] };
    }
  );

  app.get<{ Querystring: { phone?: string } }>('/messaging/simulator/thread', route, async (request) => {
    const projectId = await requireSimulatorUser(request, repositories);
    const phone = requirePhone(request.query.phone);
    const channels = await projectChannels(projectId);
    const byAddress = new Map(channels.map((c) => [c.address, c]));
    // Only what passed through this project's numbers.
    const messages = standIn.thread(phone).flatMap((m) => {
      const channelAddress = m.direction === 'inbound' ? m.to : m.from;
      const channel = byAddress.get(channelAddress);
      return channel ? [handsetMessage(m, channel)] : [];
    });
    return { phone, messages };
  });

  app.post<{ Body: { from?: unknown; channel?: unknown; body?: unknown } }>(
    '/messaging/simulator/messages',
    route,
    async (request, reply) => {
      const projectId = await requireSimulatorUser(request, repositories);
      const { from, channel: channelId, body } = request.body ?? {};
      const phone = requirePhone(from);
      if (typeof body !== 'string' || body.trim() === '' || body.length > MAX_TEXT_CHARACTERS) {
        throw new OperationOutcomeError(badRequest(`body must be 1 to ${MAX_TEXT_CHARACTERS} characters`, 'body'));
      }
      const channel = (await projectChannels(projectId)).find((c) => c.id === channelId);
      if (!channel) {
        throw new OperationOutcomeError(notFound);
      }
      const sent = await standIn.sendInbound({
        from: formatTwilioAddress({ medium: channel.medium, phone }),
        to: channel.address,
        body,
      });
      return reply.code(201).send({
        message: handsetMessage(sent.message, channel),
        webhookStatus: sent.webhook.status,
        replies: sent.replies.map((m) => handsetMessage(m, channel)),
      });
    }
  );
}

function requirePhone(value: unknown): string {
  const phone = typeof value === 'string' ? normalizePhone(value) : undefined;
  if (!phone) {
    throw new OperationOutcomeError(badRequest('phone must be an international number like +254712345678', 'phone'));
  }
  return phone;
}

function handsetMessage(message: TwilioMessage, channel: SimulatorChannel): HandsetMessage {
  return {
    sid: message.sid,
    direction: message.direction === 'inbound' ? 'in' : 'out',
    medium: channel.medium,
    channel: channel.name,
    body: message.body,
    status: message.status,
    errorCode: message.error_code,
    date: message.date_created,
  };
}

import { badRequest, notFound, OperationOutcomeError, Operator, type WithId } from '@medplum/core';
import type { Communication } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { RepositoryFactory } from '../../repository/factory.js';
import type { PostgresRepository } from '../../repository/repository.js';
import { MESSAGE_SID_SYSTEM } from '../twilio/inbound-message.js';
import { requireMessageSid, TWILIO_WEBHOOK_BODY_LIMIT, verifyTwilioWebhook } from '../twilio/webhook-request.js';
import {
  applyTwilioStatus,
  isTwilioStatus,
  messageSidOf,
  OUTBOUND_REQUEST_SYSTEM,
  updateCommunication,
} from './delivery-record.js';

export interface TwilioStatusOptions {
  baseUrl: string;
  repositories: RepositoryFactory;
  /** Time is an input (tests move it); the wall clock otherwise. */
  now?: () => Date;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * `POST /messaging/twilio/status`: Twilio's status callbacks for the messages Tiba sent. The
 * signature is checked against the channel of the `From` number (missing → 400, wrong → 403,
 * nothing stored); the Communication's status then moves forward only (duplicates and late
 * arrivals change nothing), and a failure keeps ErrorCode and ErrorMessage in statusReason.
 * https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
 */
export async function twilioStatusRoutes(app: FastifyInstance, options: TwilioStatusOptions): Promise<void> {
  const systemRepo = options.repositories.system('find the channel and message a status callback is about');
  const now = options.now ?? (() => new Date());

  app.post('/messaging/twilio/status', { bodyLimit: TWILIO_WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const { params, channel } = await verifyTwilioWebhook(request, systemRepo, options.baseUrl, 'From');
    const messageSid = requireMessageSid(params);
    const status = params.MessageStatus || params.SmsStatus;
    if (!status || !isTwilioStatus(status)) {
      throw new OperationOutcomeError(
        badRequest('MessageStatus is missing or not a Twilio message status', 'MessageStatus')
      );
    }
    const communicationId = (request.query as Record<string, unknown>).communication;
    if (communicationId !== undefined && (typeof communicationId !== 'string' || !ID.test(communicationId))) {
      throw new OperationOutcomeError(badRequest('communication must be one Communication id', 'communication'));
    }
    const found = await findOutbound(systemRepo, channel.projectId, messageSid, communicationId);
    if (!found) {
      throw new OperationOutcomeError({
        ...notFound,
        issue: [{ ...notFound.issue[0], diagnostics: `No outbound message ${messageSid} in this channel's project` }],
      });
    }
    const update = {
      status,
      messageSid,
      errorCode: params.ErrorCode,
      errorMessage: params.ErrorMessage,
      at: now(),
    };
    await updateCommunication(systemRepo.inProject(channel.projectId), found.id, (c) => {
      const known = messageSidOf(c);
      return (known === undefined || known === messageSid) && applyTwilioStatus(c, update);
    });
    return reply.code(204).send();
  });
}

/**
 * The outbound Communication a callback is about: by the id in the callback URL (the sender put
 * it there, and the signature covers it), else by MessageSid. Only outbound records of the
 * channel's project qualify, and never one that holds another MessageSid.
 */
async function findOutbound(
  systemRepo: PostgresRepository,
  projectId: string,
  messageSid: string,
  communicationId: string | undefined
): Promise<WithId<Communication> | undefined> {
  const candidates: WithId<Communication>[] = [];
  if (communicationId) {
    const byId = await systemRepo.readResource<Communication>('Communication', communicationId).catch(() => undefined);
    if (byId) candidates.push(byId);
  } else {
    candidates.push(
      ...(await systemRepo.searchResources<Communication>({
        resourceType: 'Communication',
        filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${MESSAGE_SID_SYSTEM}|${messageSid}` }],
        count: 10,
      }))
    );
  }
  return candidates.find(
    (c) =>
      c.meta?.project === projectId &&
      c.identifier?.some((i) => i.system === OUTBOUND_REQUEST_SYSTEM) &&
      (messageSidOf(c) === undefined || messageSidOf(c) === messageSid)
  );
}

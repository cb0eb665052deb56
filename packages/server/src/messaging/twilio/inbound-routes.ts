import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Attachment, Project } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import twilio from 'twilio';
import type { RepositoryFactory } from '../../repository/factory.js';
import type { Channel } from '../channels.js';
import { projectTemplatesOf } from '../text/project-templates.js';
import { type ClinicIdentity, receiveInboundMessage } from './inbound-message.js';
import {
  requireAddress,
  requireMessageSid,
  TWILIO_WEBHOOK_BODY_LIMIT,
  verifyTwilioWebhook,
} from './webhook-request.js';

export interface TwilioInboundOptions {
  baseUrl: string;
  repositories: RepositoryFactory;
  /** Time is an input (tests move it); the wall clock otherwise. */
  now?: () => Date;
}

/** Twilio sends at most 10 media items per message. */
const MAX_MEDIA = 10;

/**
 * `POST /messaging/twilio/inbound`: Twilio's incoming-message webhook for SMS and WhatsApp.
 * Verified, filed as a Communication in the channel's project, answered with TwiML (a keyword's
 * confirmation, or nothing). See docs/messaging.md.
 */
export async function twilioInboundRoutes(app: FastifyInstance, options: TwilioInboundOptions): Promise<void> {
  const systemRepo = options.repositories.system('find the channel a webhook is for, and its credentials');
  const now = options.now ?? (() => new Date());

  app.post('/messaging/twilio/inbound', { bodyLimit: TWILIO_WEBHOOK_BODY_LIMIT }, async (request, reply) => {
    const { params, channel } = await verifyTwilioWebhook(request, systemRepo, options.baseUrl, 'To');
    const from = requireAddress(params, 'From');
    if (from.medium !== channel.medium) {
      throw new OperationOutcomeError(badRequest('From and To must both be WhatsApp addresses, or both phone numbers'));
    }
    const message = {
      channel,
      from,
      messageSid: requireMessageSid(params),
      body: params.Body ?? '',
      media: mediaOf(params),
    };
    const projectRepo = options.repositories.inProject(
      channel.projectId,
      { reference: `Endpoint/${channel.endpoint.id}`, display: channel.endpoint.name },
      'file an inbound message in its channel project'
    );
    const outcome = await receiveInboundMessage(projectRepo, message, await clinicOf(channel), now());
    const twiml = new twilio.twiml.MessagingResponse();
    if (outcome.reply) {
      twiml.message(outcome.reply);
    }
    return reply.type('text/xml').send(twiml.toString());
  });

  async function clinicOf(channel: Channel): Promise<ClinicIdentity> {
    const project = await systemRepo.readResource<Project>('Project', channel.projectId);
    const name = channel.endpoint.managingOrganization?.display ?? project.name ?? 'the clinic';
    return { name, phone: channel.phone, templates: projectTemplatesOf(project) };
  }
}

/** NumMedia / MediaUrl{i} / MediaContentType{i} as attachments (http(s) URLs only). */
function mediaOf(params: Record<string, string>): Attachment[] {
  const count = Math.min(Number.parseInt(params.NumMedia ?? '0', 10) || 0, MAX_MEDIA);
  const media: Attachment[] = [];
  for (let i = 0; i < count; i++) {
    const url = params[`MediaUrl${i}`];
    if (url && /^https?:\/\/\S+$/i.test(url)) {
      media.push({ url, ...(params[`MediaContentType${i}`] ? { contentType: params[`MediaContentType${i}`] } : {}) });
    }
  }
  return media;
}

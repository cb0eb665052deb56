import { randomUUID } from 'node:crypto';
import { forbidden, notFound, OperationOutcomeError, unauthorized } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../../audit/audit-log.js';
import type { SigningKeys } from '../../auth/keys.js';
import { WarmBotPool } from '../../bots/warm-pool.js';
import type { TibaConfig } from '../../config.js';
import type { RepositoryFactory } from '../../repository/factory.js';
import { answerScreen } from './answer-screen.js';
import { UssdChannelDirectory } from './channel-directory.js';
import { recordUssdSession } from './session-record.js';
import { UssdSessionStore } from './session-store.js';
import { keyMatches } from './ussd-channel.js';
import { parseUssdRequest, USSD_BODY_LIMIT } from './ussd-request.js';

export interface UssdRoutesOptions {
  config: Readonly<TibaConfig>;
  repositories: RepositoryFactory;
  redis: Redis;
  keys: SigningKeys;
  audit: AuditLog;
  logger: FastifyBaseLogger;
  /** Time is an input (tests move it past the session limit); the wall clock otherwise. */
  now?: () => number;
}

/**
 * `POST /messaging/ussd/africastalking?key=…`: Africa's Talking's USSD callback. The gateway does
 * not sign, so the callback URL carries the channel's secret key; the service code routes the
 * request to its channel and project. Answers `text/plain` `CON …`/`END …`. See docs/messaging.md.
 */
export async function ussdRoutes(app: FastifyInstance, options: UssdRoutesOptions): Promise<void> {
  const { config, repositories } = options;
  const systemRepo = repositories.system('route USSD callbacks to their channel and run its menu bot');
  const bots = { config, systemRepo, keys: options.keys, audit: options.audit, logger: options.logger };
  // Menu bots answer within the gateway's budget only when their process is already up.
  const warm = new WarmBotPool(bots, { size: config.botWarmProcesses, idleMs: config.botWarmIdleSeconds * 1000 });
  // preClose: the Logins are revoked while the database pool is still open.
  app.addHook('preClose', () => warm.close());
  const sessions = new UssdSessionStore(options.redis, config.redisKeyPrefix);
  const channels = new UssdChannelDirectory(systemRepo);
  const now = options.now ?? Date.now;

  app.post('/messaging/ussd/africastalking', { bodyLimit: USSD_BODY_LIMIT }, async (request, reply) => {
    const fields = parseUssdRequest(request);
    const key = (request.query as Record<string, unknown>).key;
    if (typeof key !== 'string' || key === '') {
      throw refusal(unauthorized, 'Missing key: the callback URL must end in ?key=<the channel secret>');
    }
    const found = await channels.lookup(fields.serviceCode);
    if (found === 'ambiguous') {
      request.log.error({ serviceCode: fields.serviceCode }, 'USSD service code belongs to more than one channel');
    }
    if (!found || found === 'ambiguous') {
      throw refusal(notFound, `No USSD channel for service code ${fields.serviceCode}`);
    }
    if (!keyMatches(key, found.callbackKey)) {
      throw refusal(forbidden, 'Wrong key for this USSD channel');
    }
    const { channel, bot } = found;
    const projectRepo = repositories.inProject(
      channel.projectId,
      { reference: `Endpoint/${channel.endpoint.id}`, display: channel.endpoint.name },
      'answer a USSD screen and record the session in its channel project'
    );
    const deps = { projectRepo, sessions, bots, warm, logger: request.log, now };
    const answer = await answerScreen(deps, { channel, bot }, fields, randomUUID());
    if (answer.finished) {
      const finished = answer.finished;
      // After the reply: the patient's screen does not wait for the clinic's record.
      reply.raw.once('finish', () => {
        recordUssdSession(projectRepo, finished).catch((err) =>
          request.log.error({ err, sessionId: finished.sessionId }, 'could not record a USSD session')
        );
      });
    }
    return reply.type('text/plain; charset=utf-8').send(answer.body);
  });
}

function refusal(outcome: OperationOutcome, diagnostics: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...outcome, issue: [{ ...outcome.issue[0], diagnostics }] });
}

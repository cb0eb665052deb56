import { badRequest, OperationOutcomeError, type WithId } from '@medplum/core';
import type { Bot, Patient } from '@medplum/fhirtypes';
import type { FastifyBaseLogger } from 'fastify';
import { type BotContext, executeBot } from '../../bots/execute.js';
import type { WarmBotPool } from '../../bots/warm-pool.js';
import type { PostgresRepository } from '../../repository/repository.js';
import { matchPatientByPhone } from '../patient-match.js';
import { readMenuAnswer, USSD_APOLOGY, USSD_TIME_UP } from './menu-answer.js';
import type { FinishedSession } from './session-record.js';
import { USSD_SESSION_LIMIT_MS, type UssdSession, type UssdSessionStore } from './session-store.js';
import type { UssdChannel } from './ussd-channel.js';
import type { UssdScreenRequest } from './ussd-request.js';

/** A screen must be answered within the gateway's ~10 s; a bot gets this long, whatever Bot.timeout says. */
export const USSD_BOT_TIMEOUT_MS = 5000;

export interface ScreenDeps {
  /** The channel's project, acting for the channel (patient lookup, the session's record). */
  projectRepo: PostgresRepository;
  sessions: UssdSessionStore;
  bots: BotContext;
  warm: WarmBotPool;
  logger: FastifyBaseLogger;
  now: () => number;
}

/** What the menu bot gets as `event.input` for each screen. */
export interface UssdBotInput {
  channel: { id: string; serviceCode: string };
  sessionId: string;
  phoneNumber: string;
  networkCode?: string;
  /** The Patient whose telecom holds the number, when exactly one does. */
  patient?: WithId<Patient>;
  /** Every input so far, joined by `*` (empty on the first screen). */
  text: string;
  /** The newest input ('' on the first screen). */
  input: string;
  /** What the bot returned as `state` on the previous screen (null on the first). */
  state: unknown;
}

export interface ScreenAnswer {
  /** `CON …` or `END …`, the text/plain body. */
  body: string;
  /** Set when this answer ends the session: record it after replying. */
  finished?: FinishedSession;
}

/**
 * One screen of a session: the session from Redis (or a new one on the first screen), the
 * absolute 180 s limit, the menu bot run in its warm process, and its screen checked before it
 * is sent. Bad or unknown sessions end with a clear screen; a bot failure ends with an apology.
 */
export async function answerScreen(
  deps: ScreenDeps,
  { channel, bot }: { channel: UssdChannel; bot: WithId<Bot> | undefined },
  request: UssdScreenRequest,
  traceId: string
): Promise<ScreenAnswer> {
  const channelId = channel.endpoint.id;
  const { sessionId, text } = request;
  const now = deps.now();
  const existing = await deps.sessions.read(channelId, sessionId);
  if (existing && existing.phoneNumber !== request.phoneNumber) {
    throw new OperationOutcomeError(badRequest('phoneNumber does not match this session', 'phoneNumber'));
  }
  if (!existing && text !== '') {
    // Past the limit and its margin, or never started here: nothing to continue.
    return { body: USSD_TIME_UP };
  }
  if (existing && now - existing.startedAt > USSD_SESSION_LIMIT_MS) {
    const removed = await deps.sessions.delete(channelId, sessionId);
    return {
      body: USSD_TIME_UP,
      finished: removed
        ? finished(channel, request, existing, USSD_TIME_UP, 'stopped', now, 'Passed the 180 s session limit')
        : undefined,
    };
  }
  if (existing && text === existing.text) {
    return { body: existing.screen }; // the gateway asking again: same answer, the bot not run twice
  }
  const matched = existing ? undefined : await patientOf(deps.projectRepo, request.phoneNumber);
  const session: UssdSession = existing ?? {
    startedAt: now,
    phoneNumber: request.phoneNumber,
    patientId: matched?.id,
    patient: matched,
    text: '',
    screen: '',
    state: null,
    inputs: [],
  };
  const input = existing ? newestInput(existing.text, text) : '';
  const inputs = existing ? [...session.inputs, input] : [];
  const fail = async (reason: string, err?: unknown): Promise<ScreenAnswer> => {
    deps.logger.warn({ err, channel: channelId, sessionId, reason }, 'USSD menu answered with an apology');
    if (existing && !(await deps.sessions.delete(channelId, sessionId))) {
      return { body: USSD_APOLOGY }; // another request ended it meanwhile, and records it
    }
    const done = { ...session, inputs };
    return { body: USSD_APOLOGY, finished: finished(channel, request, done, USSD_APOLOGY, 'stopped', now, reason) };
  };
  if (!bot) {
    return fail('The channel names no menu Bot of its project');
  }
  const botInput: UssdBotInput = {
    channel: { id: channelId, serviceCode: channel.serviceCode },
    sessionId,
    phoneNumber: request.phoneNumber,
    networkCode: request.networkCode,
    patient: session.patient,
    text,
    input,
    state: session.state,
  };
  const result = await executeBot(
    deps.bots,
    { bot, input: botInput, contentType: 'application/json', traceId },
    { warm: deps.warm, timeoutMs: USSD_BOT_TIMEOUT_MS }
  );
  if (!result.success) {
    return fail(`Menu bot failed: ${result.error ?? 'no reason'}`);
  }
  const answer = readMenuAnswer(result.returnValue);
  if (!answer.ok) {
    return fail(answer.reason);
  }
  const next: UssdSession = { ...session, text, screen: answer.body, state: answer.state, inputs };
  if (answer.kind === 'END') {
    if (existing && !(await deps.sessions.delete(channelId, sessionId))) {
      return { body: answer.body };
    }
    return { body: answer.body, finished: finished(channel, request, next, answer.body, 'completed', deps.now()) };
  }
  await deps.sessions.save(channelId, sessionId, next, now);
  return { body: answer.body };
}

/** The input the newest request adds: what follows the previous text and its `*`. */
function newestInput(previous: string, text: string): string {
  if (previous === '') {
    return text;
  }
  if (text.startsWith(`${previous}*`)) {
    return text.slice(previous.length + 1);
  }
  // Not an extension of the previous inputs (the gateway rewrote them): take its last part.
  return text.slice(text.lastIndexOf('*') + 1);
}

async function patientOf(projectRepo: PostgresRepository, phone: string): Promise<WithId<Patient> | undefined> {
  const match = await matchPatientByPhone(projectRepo, phone);
  return match.kind === 'one' ? match.patient : undefined;
}

function finished(
  channel: UssdChannel,
  request: UssdScreenRequest,
  session: UssdSession,
  lastScreen: string,
  status: FinishedSession['status'],
  endedAt: number,
  statusReason?: string
): FinishedSession {
  return { channel, sessionId: request.sessionId, session, lastScreen, status, statusReason, endedAt };
}

import { randomUUID } from 'node:crypto';
import type { WithId } from '@medplum/core';
import { accepted, allOk, badRequest, ContentType, notFound, OperationOutcomeError, Operator } from '@medplum/core';
import type { AsyncJob, Bot } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FHIR_JSON, sendOutcome } from '../fhir/response.js';
import type { BotRunJob } from '../jobs/queues.js';
import type { PostgresRepository } from '../repository/repository.js';
import { type BotContext, executeBot } from './execute.js';

export interface BotRoutesOptions {
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The caller's repository: who may execute a bot is whoever may read it (as in Medplum). */
  repositoryFor: (request: FastifyRequest) => Promise<PostgresRepository>;
  bots: BotContext;
  /**
   * Queues an async run (`Prefer: respond-async`) and returns its job id; without it, async
   * requests run synchronously.
   */
  enqueueBotRun?: (job: BotRunJob) => Promise<string>;
}

/** Request content types whose body is text: the bot gets a string, and a string result goes back as this type. */
const TEXT_TYPES = new Set<string>([ContentType.TEXT, ContentType.HL7_V2, 'text/csv', 'application/xml', 'text/xml']);
/** Headers a bot never sees: the caller's credentials are not the bot's. */
const PRIVATE_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/**
 * `POST|GET fhir/R4/Bot/:id/$execute` (and `Bot/$execute?identifier=`): Fastify routes rather
 * than FhirRouter operations because the answer is the bot's own value (JSON or text), and async
 * runs answer 202 with a Content-Location.
 */
export async function botRoutes(app: FastifyInstance, options: BotRoutesOptions): Promise<void> {
  const { bots } = options;
  const route = { preHandler: options.authenticate };

  const execute = async (request: FastifyRequest, reply: FastifyReply) => {
    const repo = await options.repositoryFor(request);
    const query = request.query as Record<string, string | string[] | undefined>;
    // Read as the caller first: a bot the caller cannot read does not exist for them.
    const visible = await findBot(repo, (request.params as { id?: string }).id, query.identifier);
    const bot = await bots.systemRepo.readResource<Bot>('Bot', visible.id);
    const contentType = mediaType(request.headers['content-type']) ?? ContentType.JSON;
    const input = request.method === 'GET' ? query : bodyInput(request.body, contentType);
    const traceId = traceIdOf(request);
    if (/respond-async/.test(String(request.headers.prefer ?? '')) && options.enqueueBotRun) {
      return startAsyncRun(reply, options, bot, { input, contentType, traceId });
    }
    const result = await executeBot(bots, { bot, input, contentType, traceId, headers: forwardedHeaders(request) });
    if (!result.success) {
      // The bot's failure is the caller's answer (400, so clients do not retry it); never a 500.
      return sendOutcome(reply, 400, badRequest(result.error ?? 'Bot failed'));
    }
    return sendBotValue(reply, result.returnValue, contentType);
  };
  app.post('/fhir/R4/Bot/:id/$execute', route, execute);
  app.get('/fhir/R4/Bot/:id/$execute', route, execute);
  app.post('/fhir/R4/Bot/$execute', route, execute);
  app.get('/fhir/R4/Bot/$execute', route, execute);

  // Medplum's async status URL: the AsyncJob, 202 while it runs.
  app.get<{ Params: { id: string } }>('/fhir/R4/job/:id/status', route, async (request, reply) => {
    const repo = await options.repositoryFor(request);
    const job = await readJobForCaller(repo, bots.systemRepo, request.params.id);
    const done = job.status === 'completed' || job.status === 'error' || job.status === 'cancelled';
    if (!done) {
      reply.header('Content-Location', statusUrl(bots.config.baseUrl, job.id));
    }
    return reply
      .code(done ? 200 : 202)
      .type(FHIR_JSON)
      .send(job);
  });
}

async function findBot(
  repo: PostgresRepository,
  id: string | undefined,
  identifier: string | string[] | undefined
): Promise<WithId<Bot>> {
  if (id) {
    return repo.readResource<Bot>('Bot', id);
  }
  const value = Array.isArray(identifier) ? identifier[0] : identifier;
  if (!value) {
    throw new OperationOutcomeError(badRequest('Must specify bot ID or identifier.'));
  }
  const bundle = await repo.search<Bot>({
    resourceType: 'Bot',
    filters: [{ code: 'identifier', operator: Operator.EQUALS, value }],
    count: 2,
  });
  const bot = bundle.entry?.[0]?.resource;
  if (!bot) {
    throw new OperationOutcomeError(notFound);
  }
  return bot as WithId<Bot>;
}

/** The status of an AsyncJob for whoever may read it, or may read the Bot it runs. */
async function readJobForCaller(
  repo: PostgresRepository,
  systemRepo: PostgresRepository,
  id: string
): Promise<WithId<AsyncJob>> {
  const own = await repo.readResource<AsyncJob>('AsyncJob', id).catch(() => undefined);
  if (own) {
    return own;
  }
  const job = await systemRepo.readResource<AsyncJob>('AsyncJob', id);
  const botId = /\/Bot\/([^/?]+)\/\$execute/.exec(job.request)?.[1];
  if (!botId) {
    throw new OperationOutcomeError(notFound);
  }
  // Throws 404 when the Bot is outside the caller's project or policy.
  const bot = await repo.readResource<Bot>('Bot', botId);
  if (job.meta?.project !== bot.meta?.project) {
    throw new OperationOutcomeError(notFound);
  }
  return job;
}

async function startAsyncRun(
  reply: FastifyReply,
  options: BotRoutesOptions,
  bot: WithId<Bot>,
  run: { input: unknown; contentType: string; traceId: string }
): Promise<FastifyReply> {
  const { bots } = options;
  const projectId = bot.meta?.project as string;
  const job = await bots.systemRepo.inProject(projectId).createResource<AsyncJob>({
    resourceType: 'AsyncJob',
    status: 'accepted',
    requestTime: new Date().toISOString(),
    request: `${bots.config.baseUrl}fhir/R4/Bot/${bot.id}/$execute`,
  });
  await (options.enqueueBotRun as NonNullable<BotRoutesOptions['enqueueBotRun']>)({
    botId: bot.id,
    projectId,
    input: run.input,
    contentType: run.contentType,
    traceId: run.traceId,
    asyncJobId: job.id,
  });
  const location = statusUrl(bots.config.baseUrl, job.id);
  return reply.code(202).header('Content-Location', location).type(FHIR_JSON).send(accepted(location));
}

export function statusUrl(baseUrl: string, jobId: string): string {
  return `${baseUrl}fhir/R4/job/${jobId}/status`;
}

/** The handler's value as the response: JSON for values, text for strings, allOk when it returned nothing. */
function sendBotValue(reply: FastifyReply, value: unknown, requestType: string): FastifyReply {
  if (value === undefined || value === null) {
    return reply.code(200).type(FHIR_JSON).send(allOk);
  }
  if (typeof value === 'string') {
    const type = TEXT_TYPES.has(requestType) ? requestType : ContentType.TEXT;
    return reply.code(200).type(`${type}; charset=utf-8`).send(value);
  }
  const type = requestType === ContentType.JSON ? ContentType.JSON : ContentType.FHIR_JSON;
  return reply.code(200).type(`${type}; charset=utf-8`).send(JSON.stringify(value));
}

function bodyInput(body: unknown, contentType: string): unknown {
  if (Buffer.isBuffer(body)) {
    return TEXT_TYPES.has(contentType) || contentType.startsWith('text/')
      ? body.toString('utf8')
      : body.toString('base64');
  }
  return body;
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0].trim().toLowerCase() || undefined;
}

function traceIdOf(request: FastifyRequest): string {
  const given = request.headers['x-trace-id'] ?? request.headers.traceparent;
  return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
}

function forwardedHeaders(request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (!PRIVATE_HEADERS.has(name) && value !== undefined) {
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return headers;
}

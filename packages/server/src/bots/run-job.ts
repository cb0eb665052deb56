import type { WithId } from '@medplum/core';
import type { AsyncJob, Bot, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { BotRunJob } from '../jobs/queues.js';
import { type BotContext, type BotRunResult, executeBot } from './execute.js';

/**
 * Runs a queued `$execute` (`Prefer: respond-async`) for the bot-run worker: the AsyncJob goes
 * `active`, then `completed` with the bot's value in `output` (parameter `responseBody`), or
 * `error` with the failure (parameter `outcome`). A Bot deleted since the request fails the job.
 */
export async function runBotJob(ctx: BotContext, job: BotRunJob): Promise<BotRunResult> {
  const asyncJob = job.asyncJobId ? await readAsyncJob(ctx, job.asyncJobId) : undefined;
  if (asyncJob && asyncJob.status !== 'accepted' && asyncJob.status !== 'active') {
    // Already finished (a redelivered queue job): running it again would run the bot twice.
    return { success: asyncJob.status === 'completed', logs: '', durationMs: 0 };
  }
  const bot = await ctx.systemRepo.readResource<Bot>('Bot', job.botId).catch(() => undefined);
  if (!bot || bot.meta?.project !== job.projectId) {
    const result: BotRunResult = { success: false, logs: '', error: 'Bot not found', durationMs: 0 };
    if (asyncJob) {
      await finishAsyncJob(ctx, asyncJob, result);
    }
    return result;
  }
  if (asyncJob) {
    await ctx.systemRepo.updateResource<AsyncJob>({ ...asyncJob, status: 'active' });
  }
  const result = await executeBot(ctx, {
    bot,
    input: job.input,
    contentType: job.contentType,
    traceId: job.traceId,
  });
  if (asyncJob) {
    await finishAsyncJob(ctx, (await readAsyncJob(ctx, asyncJob.id)) ?? asyncJob, result);
  }
  return result;
}

function readAsyncJob(ctx: BotContext, id: string): Promise<WithId<AsyncJob> | undefined> {
  return ctx.systemRepo.readResource<AsyncJob>('AsyncJob', id).catch(() => undefined);
}

async function finishAsyncJob(ctx: BotContext, asyncJob: WithId<AsyncJob>, result: BotRunResult): Promise<void> {
  await ctx.systemRepo.updateResource<AsyncJob>({
    ...asyncJob,
    status: result.success ? 'completed' : 'error',
    transactionTime: new Date().toISOString(),
    output: botOutput(result),
  } as AsyncJob);
}

/**
 * The run's outcome as Parameters: the value (text, or JSON as text: a returned resource need not
 * be valid, and the AsyncJob must still save) or the error.
 */
export function botOutput(result: BotRunResult): Parameters | undefined {
  const parameter: ParametersParameter[] = [];
  if (!result.success) {
    parameter.push({
      name: 'outcome',
      resource: {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'processing', details: { text: result.error ?? 'Bot failed' } }],
      },
    });
  } else if (typeof result.returnValue === 'string') {
    parameter.push({ name: 'responseBody', valueString: result.returnValue });
  } else if (result.returnValue !== undefined) {
    parameter.push({ name: 'responseBody', valueString: JSON.stringify(result.returnValue) });
    parameter.push({ name: 'contentType', valueString: 'application/json' });
  }
  return parameter.length ? { resourceType: 'Parameters', parameter } : undefined;
}

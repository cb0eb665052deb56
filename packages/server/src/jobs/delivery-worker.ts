import { randomUUID } from 'node:crypto';
import type { WithId } from '@medplum/core';
import { isGone, isNotFound, normalizeOperationOutcome, type Operation } from '@medplum/core';
import type { Bot, Resource, Subscription } from '@medplum/fhirtypes';
import { type Job, UnrecoverableError } from 'bullmq';
import { deliveryAuditEvent } from '../audit/audit-event.js';
import type { BotContext } from '../bots/execute.js';
import { executeBot } from '../bots/execute.js';
import type { PostgresRepository } from '../repository/repository.js';
import { notificationHeaders, postRestHook } from '../subscriptions/rest-hook.js';
import { isDeliverable } from '../subscriptions/subscription-index.js';
import type { DeliveryJob } from './queues.js';

export interface DeliveryContext extends BotContext {
  /** The repository deliveries read and update Subscriptions with. */
  systemRepo: PostgresRepository;
}

interface AttemptOutcome {
  success: boolean;
  detail: string;
  /** Retrying cannot help (a refused endpoint): the delivery fails now. */
  refused?: boolean;
}

/**
 * Delivers one resource version to one Subscription (one BullMQ attempt). A failure throws,
 * so BullMQ retries with exponential backoff, until the Subscription's last attempt: that one
 * records the failure in `Subscription.status = error` / `error` instead. A success after
 * failures puts the Subscription back to `active`. Every attempt is an AuditEvent.
 */
export async function processDelivery(ctx: DeliveryContext, job: Job<DeliveryJob>): Promise<void> {
  const data = job.data;
  const repo = ctx.systemRepo;
  const subscription = await readOrUndefined<Subscription>(repo, 'Subscription', data.subscriptionId);
  if (!subscription || !isDeliverable(subscription)) {
    return; // deleted or switched off since the write
  }
  const endpoint = subscription.channel?.endpoint as string; // isDeliverable: set
  const isBot = endpoint.startsWith('Bot/');
  const resource = await deliveredVersion(repo, data);
  if (!resource) {
    return;
  }
  const attempt = job.attemptsMade + 1;
  const maxAttempts = job.opts.attempts ?? 1;
  const outcome = isBot
    ? await runBot(ctx, subscription, endpoint, resource, data)
    : await callRestHook(ctx, subscription, endpoint, resource, data);
  if (ctx.audit.enabled) {
    ctx.audit.record(
      data.projectId,
      deliveryAuditEvent(ctx.audit.observer, {
        subscription: `Subscription/${subscription.id}`,
        what: `${data.resourceType}/${data.resourceId}`,
        endpoint: isBot ? endpoint : undefined,
        success: outcome.success,
        outcomeDesc: `Attempt ${attempt} of ${maxAttempts} (${data.interaction}): ${outcome.detail}`,
        recorded: new Date().toISOString(),
      })
    );
  }
  if (outcome.success) {
    if (subscription.status === 'error') {
      await setStatus(repo, subscription.id, 'active', undefined);
    }
    return;
  }
  if (outcome.refused) {
    await setStatus(repo, subscription.id, 'error', outcome.detail);
    ctx.logger.warn({ subscription: subscription.id, detail: outcome.detail }, 'Subscription endpoint refused');
    throw new UnrecoverableError(outcome.detail);
  }
  if (attempt < maxAttempts) {
    throw new Error(outcome.detail);
  }
  await setStatus(repo, subscription.id, 'error', `Delivery failed after ${attempt} attempt(s): ${outcome.detail}`);
  ctx.logger.warn(
    { subscription: subscription.id, resource: `${data.resourceType}/${data.resourceId}`, detail: outcome.detail },
    'Subscription delivery failed'
  );
}

/**
 * The version to deliver: the written one (read from history when the resource has changed
 * since, so a retry delivers what triggered it), or for a deletion the version it removed. A
 * resource deleted since is not delivered, as in Medplum.
 */
async function deliveredVersion(repo: PostgresRepository, data: DeliveryJob): Promise<Resource | undefined> {
  if (data.interaction === 'delete') {
    return data.previousVersionId
      ? readOrUndefined(repo, data.resourceType, data.resourceId, data.previousVersionId)
      : undefined;
  }
  const current = await readOrUndefined(repo, data.resourceType, data.resourceId);
  if (!current) {
    return undefined;
  }
  return current.meta?.versionId === data.versionId
    ? current
    : readOrUndefined(repo, data.resourceType, data.resourceId, data.versionId);
}

async function callRestHook(
  ctx: DeliveryContext,
  subscription: WithId<Subscription>,
  endpoint: string,
  resource: Resource,
  data: DeliveryJob
): Promise<AttemptOutcome> {
  // Medplum sends an empty object for a deletion (the resource is named in a header).
  const body = data.interaction === 'delete' ? '{}' : JSON.stringify(resource);
  const headers = notificationHeaders(subscription, data, body);
  return postRestHook(endpoint, headers, body, {
    timeoutMs: ctx.config.restHookTimeoutMs,
    allowedHosts: ctx.config.restHookAllowedHosts,
  });
}

async function runBot(
  ctx: DeliveryContext,
  subscription: WithId<Subscription>,
  endpoint: string,
  resource: Resource,
  data: DeliveryJob
): Promise<AttemptOutcome> {
  const bot = await readOrUndefined<Bot>(ctx.systemRepo, 'Bot', endpoint.slice('Bot/'.length));
  if (!bot || bot.meta?.project !== subscription.meta?.project) {
    return { success: false, detail: `${endpoint} not found` };
  }
  // As in Medplum: a deletion gives the bot `{ deletedResource }`.
  const input = data.interaction === 'delete' ? { deletedResource: resource } : resource;
  const headers = notificationHeaders(subscription, data, JSON.stringify(input));
  const result = await executeBot(ctx, {
    bot,
    input,
    contentType: 'application/fhir+json',
    traceId: randomUUID(),
    headers,
  });
  return {
    success: result.success,
    detail: result.success ? `${endpoint} ran in ${result.durationMs} ms` : `${endpoint} failed: ${result.error}`,
  };
}

async function setStatus(
  repo: PostgresRepository,
  id: string,
  status: 'active' | 'error',
  error: string | undefined
): Promise<void> {
  const current = await readOrUndefined<Subscription>(repo, 'Subscription', id);
  if (!current || current.status === 'off' || (current.status === status && current.error === error)) {
    return;
  }
  const patch: Operation[] = [{ op: 'replace', path: '/status', value: status }];
  if (error !== undefined) {
    patch.push({ op: 'add', path: '/error', value: error.slice(0, 1000) });
  } else if (current.error !== undefined) {
    patch.push({ op: 'remove', path: '/error' });
  }
  await repo.patchResource('Subscription', id, patch);
}

/** A resource (or one version of it), or undefined when it is gone or never was. */
async function readOrUndefined<T extends Resource>(
  repo: PostgresRepository,
  resourceType: string,
  id: string,
  versionId?: string
): Promise<WithId<T> | undefined> {
  try {
    return versionId
      ? await repo.readVersion<T>(resourceType, id, versionId)
      : await repo.readResource<T>(resourceType, id);
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    if (isGone(outcome) || isNotFound(outcome)) {
      return undefined;
    }
    throw err;
  }
}

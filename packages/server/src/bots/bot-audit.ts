import type { AuditEvent, AuditEventEntity, Bot, Resource } from '@medplum/fhirtypes';
import type { BotRunRequest, BotRunResult } from './execute.js';

/**
 * The AuditEvent of one bot run, in Medplum's shape (type `execute`, the Bot as observer and
 * agent, outcome 0 / 4): the outcome, the duration and the tail of the console output in
 * `outcomeDesc`, the run's period, and the Bot and its input resource as entities.
 */
export function botRunAuditEvent(
  bot: Bot & { id: string },
  request: BotRunRequest,
  result: BotRunResult,
  started: Date
): AuditEvent {
  const botReference = { reference: `Bot/${bot.id}`, display: bot.name };
  const summary = result.success
    ? `Bot run succeeded in ${result.durationMs} ms`
    : `Bot run failed after ${result.durationMs} ms: ${result.error}`;
  const entity: AuditEventEntity[] = [{ what: { reference: `Bot/${bot.id}` }, detail: traceDetail(request.traceId) }];
  const input = request.input as Resource | undefined;
  if (input && typeof input === 'object' && typeof input.resourceType === 'string' && typeof input.id === 'string') {
    entity.push({ what: { reference: `${input.resourceType}/${input.id}` } });
  }
  return {
    resourceType: 'AuditEvent',
    type: { system: 'https://medplum.com/fhir/CodeSystem/audit-event-type', code: 'execute', display: 'Bot execution' },
    action: 'E',
    period: { start: started.toISOString(), end: new Date(started.getTime() + result.durationMs).toISOString() },
    recorded: new Date().toISOString(),
    // 0 success, 4 the bot's own failure (it threw), 8 the run was killed (timeout, memory, crash).
    outcome: result.success ? '0' : result.aborted ? '8' : '4',
    outcomeDesc: safeText(result.logs ? `${summary}\n${result.logs}` : summary),
    agent: [{ type: { text: 'bot' }, who: botReference, requestor: false }],
    source: { observer: botReference as AuditEvent['source']['observer'] },
    entity,
  };
}

function traceDetail(traceId: string): AuditEventEntity['detail'] {
  return traceId ? [{ type: 'traceId', valueString: traceId }] : undefined;
}

/** PostgreSQL text cannot hold NUL, and FHIR strings no control characters: a bot's output may have them. */
function safeText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd');
}

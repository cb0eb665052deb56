import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, Reference } from '@medplum/fhirtypes';
import type { SignInAudit } from './types.js';

/*
 * AuditEvent shapes (FHIR R4), following the HL7 examples and Medplum's codes:
 * https://hl7.org/fhir/R4/auditevent.html, https://hl7.org/fhir/R4/audit-event-example-login.json.html
 */

const DICOM = 'http://dicom.nema.org/resources/ontology/DCM';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';

export const USER_AUTHENTICATION: Coding = { system: DICOM, code: '110114', display: 'User Authentication' };
export const LOGIN: Coding = { system: DICOM, code: '110122', display: 'Login' };
export const REST_OPERATION: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  code: 'rest',
  display: 'Restful Operation',
};

/** The restful-interaction codes Tiba records (https://hl7.org/fhir/R4/codesystem-restful-interaction.html). */
export type RestInteraction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history'
  | 'create'
  | 'search'
  | 'batch'
  | 'transaction'
  | 'operation';

const ACTIONS: Record<RestInteraction, AuditEvent['action']> = {
  create: 'C',
  read: 'R',
  vread: 'R',
  history: 'R',
  search: 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  batch: 'E',
  transaction: 'E',
  operation: 'E',
};

/** 0 success, 4 minor failure (the caller's fault: 4xx), 8 serious failure (the server's: 5xx). */
export function outcomeOfStatus(status: number): AuditEvent['outcome'] {
  if (status < 400) {
    return '0';
  }
  return status < 500 ? '4' : '8';
}

/** Who acted: the caller's profile, and the client application it acted through when that is someone else. */
export interface AuditCaller {
  /** 'Practitioner/1', 'ClientApplication/2', … */
  profile?: string;
  clientId?: string;
  /** Shown when there is no profile (a failed sign-in: the email tried). */
  altId?: string;
  ip: string;
}

export interface RestAuditInput {
  interaction: RestInteraction;
  caller: AuditCaller;
  /** The resource acted on, as 'Type/id' (or 'Type' for type-level interactions). */
  what?: string;
  /** For searches and conditional interactions: the query, e.g. 'Patient?name=smith'. */
  query?: string;
  status: number;
  /** Diagnostics of a failure. */
  outcomeDesc?: string;
  recorded: string;
}

/**
 * Text from the request (an email tried, a query, a failure's diagnostics) without the control
 * characters FHIR strings may not hold: PostgreSQL text cannot hold NUL, and one such value
 * would make PostgreSQL refuse its whole batch of events.
 */
function safeText<T extends string | undefined>(text: T): T {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  return text?.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd') as T;
}

export function restAuditEvent(observer: Reference, input: RestAuditInput): AuditEvent {
  input = {
    ...input,
    caller: safeCaller(input.caller),
    query: safeText(input.query),
    outcomeDesc: safeText(input.outcomeDesc),
  };
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    type: REST_OPERATION,
    subtype: [{ system: RESTFUL_INTERACTION, code: input.interaction, display: input.interaction }],
    action: ACTIONS[input.interaction],
    recorded: input.recorded,
    outcome: outcomeOfStatus(input.status),
    agent: agentsOf(input.caller),
    source: sourceOf(observer),
  };
  if (input.outcomeDesc) {
    event.outcomeDesc = input.outcomeDesc;
  }
  const entity = entityOf(input.what, input.query);
  if (entity) {
    event.entity = [entity];
  }
  return event;
}

export function signInAuditEvent(observer: Reference, signIn: SignInAudit, recorded: string): AuditEvent {
  const detail = signIn.reason ? `: ${safeText(signIn.reason)}` : '';
  return {
    resourceType: 'AuditEvent',
    type: USER_AUTHENTICATION,
    subtype: [LOGIN],
    action: 'E',
    recorded,
    outcome: signIn.outcome === 'success' ? '0' : '4',
    outcomeDesc: `${signIn.method} sign-in ${signIn.outcome === 'success' ? 'succeeded' : 'failed'}${detail}`,
    agent: agentsOf(safeCaller({ profile: signIn.who, clientId: signIn.clientId, altId: signIn.email, ip: signIn.ip })),
    source: sourceOf(observer),
  };
}

function safeCaller(caller: AuditCaller): AuditCaller {
  return {
    ...caller,
    profile: safeText(caller.profile),
    clientId: safeText(caller.clientId),
    altId: safeText(caller.altId),
  };
}

function agentsOf(caller: AuditCaller): AuditEventAgent[] {
  const requestor: AuditEventAgent = {
    who: caller.profile ? { reference: caller.profile } : { display: caller.altId ?? 'unknown' },
    requestor: true,
  };
  if (caller.altId) {
    requestor.altId = caller.altId;
  }
  if (caller.ip) {
    // Network access point type 2: IP address.
    requestor.network = { address: caller.ip, type: '2' };
  }
  const agents = [requestor];
  const client = caller.clientId ? `ClientApplication/${caller.clientId}` : undefined;
  if (client && client !== caller.profile) {
    agents.push({
      type: { coding: [{ system: DICOM, code: '110150', display: 'Application' }] },
      who: { reference: client },
      requestor: false,
    });
  }
  return agents;
}

/** 'Type', 'Type/id' or 'Type/id/_history/vid' with FHIR ids: anything else a client names is not a reference. */
const REFERENCE = /^[A-Z][A-Za-z]{1,63}(?:\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?)?$/;

function entityOf(what: string | undefined, query: string | undefined): AuditEventEntity | undefined {
  if (what !== undefined && !REFERENCE.test(what)) {
    // A malformed target (from a batch entry's URL) is kept as text: indexed as a reference it
    // could make PostgreSQL refuse the whole batch of events.
    query = [query, safeText(what).slice(0, 2048)].filter(Boolean).join(' ');
    what = undefined;
  }
  if (!what && !query) {
    return undefined;
  }
  return {
    ...(what ? { what: { reference: what } } : undefined),
    // entity.query is base64Binary in R4; the readable query goes in description.
    ...(query ? { query: Buffer.from(query).toString('base64'), description: query } : undefined),
  };
}

function sourceOf(observer: Reference): AuditEvent['source'] {
  return {
    observer: observer as AuditEvent['source']['observer'],
    type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '3', display: 'Web Server' }],
  };
}

/** ISO 21089 lifecycle: a record sent to another party (Medplum records deliveries as 'transmit'). */
export const TRANSMIT: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle',
  code: 'transmit',
  display: 'Transmit Record Lifecycle Event',
};

export interface DeliveryAuditInput {
  /** 'Subscription/<id>' */
  subscription: string;
  /** The resource delivered, 'Type/id'. */
  what: string;
  /** The endpoint's resource when it is one ('Bot/<id>'). */
  endpoint?: string;
  success: boolean;
  /** 'Attempt 2 of 4: …' */
  outcomeDesc: string;
  recorded: string;
}

/** One delivery attempt of a Subscription: found with `AuditEvent?entity=Subscription/<id>`. */
export function deliveryAuditEvent(observer: Reference, input: DeliveryAuditInput): AuditEvent {
  const entity: AuditEventEntity[] = [{ what: { reference: input.what } }, { what: { reference: input.subscription } }];
  if (input.endpoint) {
    entity.push({ what: { reference: input.endpoint } });
  }
  return {
    resourceType: 'AuditEvent',
    type: TRANSMIT,
    action: 'E',
    recorded: input.recorded,
    outcome: input.success ? '0' : '4',
    outcomeDesc: safeText(input.outcomeDesc),
    agent: [{ who: { reference: input.subscription }, requestor: false }],
    source: sourceOf(observer),
    entity,
  };
}

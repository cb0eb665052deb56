import fc from 'fast-check';

/** One request as a broken or hostile client would send it. */
export interface HostileRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, already encoded (it may be encoded badly on purpose). */
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** Ids that exist on the server under test (created before the run), so writes reach real rows. */
export interface FuzzTargets {
  patientId: string;
  observationId: string;
}

/** Creates the rows the writes aim at (a Patient the hostile updates reach, its Observation) through `create`. */
export async function createFuzzTargets(
  create: (resource: { resourceType: string } & Record<string, unknown>) => Promise<string>
): Promise<FuzzTargets> {
  const patientId = await create({
    resourceType: 'Patient',
    identifier: [{ system: 'http://example.org', value: '1' }],
  });
  const observationId = await create({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'HBV DNA' },
    subject: { reference: `Patient/${patientId}` },
  });
  return { patientId, observationId };
}

const TYPES = ['Patient', 'Observation', 'Bundle', 'Practitioner', 'Subscription', 'Bot', 'Binary', 'Spaceship'];
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];
const FHIR_KEYS = [
  'resourceType',
  'id',
  'meta',
  'extension',
  'contained',
  'identifier',
  'system',
  'value',
  'reference',
  'subject',
  'code',
  'coding',
  'status',
  'gender',
  '_gender',
  '_birthDate',
  'birthDate',
  'name',
  'telecom',
  'valueQuantity',
  'effectiveDateTime',
  'entry',
  'request',
  'resource',
  'url',
  'method',
  'fullUrl',
  'profile',
  'text',
  'div',
  ...PROTOTYPE_KEYS,
];

/** Strings that have broken parsers before: control characters, odd Unicode, huge numbers, injections. */
const NASTY_STRINGS = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '\uD800',
  '\uFFFF',
  '😀',
  'ſ',
  "'; DROP TABLE resource; --",
  '%00',
  '%',
  '%E0%A4%A',
  '../../etc/passwd',
  'urn:uuid:',
  'Patient/',
  '#',
  '9'.repeat(400),
  '1e400',
  '-0',
  'NaN',
  '2020-13-45',
  '2020-01-01T25:00:00Z',
  '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>',
  'x'.repeat(5000)
);

const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  NASTY_STRINGS
);

/** Any JSON value, a few levels deep, with FHIR-ish and prototype keys. */
const jsonish: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...FHIR_KEYS), fc.string({ maxLength: 8 })), tie('value'), {
      maxKeys: 4,
    })
  ),
})).value;

const validPatient = (id?: string) => ({
  resourceType: 'Patient',
  ...(id ? { id } : undefined),
  name: [{ given: ['Amina'], family: 'Wanjiru' }],
  gender: 'female',
  telecom: [{ system: 'phone', value: '+254700000000' }],
  managingOrganization: { reference: 'Organization/1' },
  identifier: [{ system: 'http://example.org', value: '1' }],
});

const validObservation = (patientId: string) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '42595-9' }] },
  subject: { reference: `Patient/${patientId}` },
  valueQuantity: { value: 20, unit: 'IU/mL' },
  effectiveDateTime: '2026-01-01',
});

/** What a confused client puts where a value belongs: the wrong shape of the same value. */
function confusedValue(original: unknown): fc.Arbitrary<unknown> {
  return fc.constantFrom(
    {},
    [],
    [original],
    { value: original },
    { reference: original },
    0,
    -1,
    '',
    String(original),
    true,
    null
  );
}

/** A valid resource with one or two elements (existing or new, at any depth) replaced by hostile JSON. */
function mutated(base: object): fc.Arbitrary<unknown> {
  const paths = leafPaths(base);
  const one = fc
    .tuple(
      fc.constantFrom(...paths),
      fc.option(fc.constantFrom(...FHIR_KEYS), { nil: undefined }),
      fc.integer({ min: 0, max: 2 })
    )
    .chain(([path, extraKey, kind]) => {
      const target = extraKey ? [...path.slice(0, -1), extraKey] : path;
      const value =
        kind === 0 ? confusedValue(valueAt(base, path)) : kind === 1 ? jsonish : fc.oneof(jsonish, deepNesting);
      return value.map((v) => [target, v] as const);
    });
  return fc.array(one, { minLength: 1, maxLength: 2 }).map((changes) => {
    const copy = structuredClone(base) as Record<string, unknown>;
    for (const [path, value] of changes) {
      setAt(copy, [...path], value);
    }
    return copy;
  });
}

function valueAt(value: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string | number, unknown> | undefined)?.[key], value);
}

/** Objects or arrays nested far deeper than any resource (the body is built as text: no recursion). */
const deepNesting = fc.integer({ min: 50, max: 20_000 }).map((depth) => ({ __rawJson: nestedText(depth) }));

function nestedText(depth: number): string {
  return `${'{"contained":['.repeat(depth)}{}${']}'.repeat(depth)}`;
}

function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) {
    return [prefix];
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]))].filter((p) => p.length);
}

function setAt(target: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) {
      node[key] = {};
    }
    node = node[key] as Record<string | number, unknown>;
  }
  // defineProperty: a key named __proto__ becomes an own property, as JSON.parse would make it.
  Object.defineProperty(node, path[path.length - 1], { value, enumerable: true, writable: true, configurable: true });
}

/** JSON text of a generated body; deep nesting is spliced in as text. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && '__rawJson' in v ? `@@${v.__rawJson}@@` : v
  ).replace(/"@@(.*?)@@"/g, (_m, raw: string) => raw.replaceAll('\\"', '"'));
}

const contentType = fc.constantFrom(
  'application/fhir+json',
  'application/fhir+json',
  'application/json',
  'application/json-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/xml',
  'multipart/form-data; boundary=x'
);

const rawBody = fc.oneof(
  fc.constantFrom('', 'null', '0', '-1', '[]', '[null]', '"x"', 'true', '{}', '{"resourceType":null}', '{', '{"a":1}}'),
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 })
);

function bundleOf(targets: FuzzTargets): fc.Arbitrary<unknown> {
  const goodEntry = fc.constantFrom<unknown>(
    {
      fullUrl: 'urn:uuid:5b7e1c4a-1d3e-4a5b-9c1d-2e3f4a5b6c7d',
      resource: validPatient(),
      request: { method: 'POST', url: 'Patient' },
    },
    { request: { method: 'GET', url: `Patient/${targets.patientId}` } },
    { resource: validPatient(targets.patientId), request: { method: 'PUT', url: `Patient/${targets.patientId}` } },
    { request: { method: 'DELETE', url: 'Observation?code=none' } },
    {
      resource: validPatient(),
      request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=http://example.org|1' },
    }
  );
  const entry = fc.oneof(
    goodEntry,
    goodEntry.chain((e) => mutated(e as object)),
    jsonish
  );
  return fc.record({
    resourceType: fc.constant('Bundle'),
    type: fc.constantFrom('transaction', 'batch', 'transaction', 'batch', 'collection', 'searchset', 'x'),
    entry: fc.oneof(fc.array(entry, { maxLength: 4 }), jsonish),
  });
}

/** Resources of the clinic's own programmes, with many element kinds to break. */
const CLINICAL = [
  {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1721612' }] },
    subject: { reference: 'Patient/1' },
    dosageInstruction: [
      {
        timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } },
        doseAndRate: [{ doseQuantity: { value: 1 } }],
      },
    ],
    dispenseRequest: { expectedSupplyDuration: { value: 30, unit: 'd' }, numberOfRepeatsAllowed: 5 },
  },
  {
    resourceType: 'Appointment',
    status: 'booked',
    start: '2026-12-04T09:00:00+03:00',
    end: '2026-12-04T09:30:00+03:00',
    participant: [{ actor: { reference: 'Patient/1' }, status: 'accepted' }],
    serviceType: [{ text: 'HBV review' }],
  },
  {
    resourceType: 'Communication',
    status: 'completed',
    medium: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode', code: 'SMSWRIT' }] }],
    payload: [{ contentString: 'Habari' }],
    sent: '2026-12-03T08:00:00Z',
    identifier: [{ system: 'https://www.twilio.com/docs/sms', value: 'SM1' }],
  },
  {
    resourceType: 'Questionnaire',
    status: 'active',
    item: [
      {
        linkId: '1',
        type: 'group',
        item: [{ linkId: '1.1', type: 'choice', answerOption: [{ valueCoding: { code: 'a' } }] }],
      },
    ],
  },
  {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
    component: [
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
        valueQuantity: { value: 120, unit: 'mm[Hg]' },
      },
    ],
    effectivePeriod: { start: '2026-01-01', end: '2026-01-02' },
    extension: [{ url: 'http://example.org/x', valueString: 'x' }],
    _status: { extension: [{ url: 'http://example.org/y', valueBoolean: true }] },
  },
];

/** Writes (create, update, patch, operations, transactions) with hostile bodies and content types. */
export function hostileWrites(targets: FuzzTargets): fc.Arbitrary<HostileRequest> {
  const { patientId, observationId } = targets;
  const resource = fc.oneof(
    mutated(validPatient()),
    mutated(validObservation(patientId)),
    ...CLINICAL.map(mutated),
    jsonish,
    fc.constant(validPatient())
  );
  const target = fc.constantFrom(
    { method: 'POST', url: '/fhir/R4/Patient' },
    { method: 'POST', url: '/fhir/R4/Observation' },
    ...CLINICAL.map((r) => ({ method: 'POST', url: `/fhir/R4/${r.resourceType}` })),
    { method: 'PUT', url: `/fhir/R4/Patient/${patientId}` },
    { method: 'PUT', url: `/fhir/R4/Observation/${observationId}` },
    { method: 'PUT', url: '/fhir/R4/Patient?identifier=http://example.org|1' },
    { method: 'PATCH', url: `/fhir/R4/Patient/${patientId}` },
    { method: 'PATCH', url: '/fhir/R4/Patient?identifier=http://example.org|1' },
    { method: 'POST', url: '/fhir/R4/Patient/$validate' },
    { method: 'POST', url: `/fhir/R4/Patient/${patientId}/$validate` },
    { method: 'POST', url: '/fhir/R4/ValueSet/$expand' },
    { method: 'POST', url: '/fhir/R4/$graphql' },
    { method: 'POST', url: '/fhir/R4/Patient/_search' },
    { method: 'POST', url: `/fhir/R4/Patient/${patientId}/_history` },
    { method: 'PUT', url: `/fhir/R4/Patient/${patientId}/_history/1` },
    { method: 'POST', url: '/fhir/R4/Bot/$execute' },
    { method: 'POST', url: '/fhir/R4/' },
    { method: 'POST', url: '/fhir/R4/Binary' }
  ) as fc.Arbitrary<Pick<HostileRequest, 'method' | 'url'>>;
  const patch = fc.array(
    fc.record({
      op: fc.constantFrom('add', 'replace', 'remove', 'test', 'move', 'copy', 'x'),
      path: fc.oneof(
        fc.constantFrom('/gender', '/name/0', '/id', '/resourceType', '/meta', '/__proto__/x', ''),
        fc.string()
      ),
      value: jsonish,
      from: fc.constantFrom('/name', '/x', '/__proto__'),
    }),
    { maxLength: 3 }
  );
  // Each base resource broken and sent where its own type goes: past the resourceType check, deep into
  // validation, indexing and the transaction processor.
  const matched = fc.constantFrom<object>(validPatient(), validObservation(patientId), ...CLINICAL).chain((base) =>
    fc.tuple(mutated(base), fc.constantFrom('create', 'transaction', 'batch', 'validate')).map(([body, how]) => {
      const type = (base as { resourceType: string }).resourceType;
      const headers = { 'content-type': 'application/fhir+json' };
      if (how === 'create' || how === 'validate') {
        const url = `/fhir/R4/${type}${how === 'validate' ? '/$validate' : ''}`;
        return { method: 'POST' as const, url, headers, body: toJsonText(body) };
      }
      const entry = [
        {
          fullUrl: 'urn:uuid:0c3e7e0a-3c1b-4a8e-9a41-6e0c5a1f7b2d',
          resource: body,
          request: { method: 'POST', url: type },
        },
      ];
      return {
        method: 'POST' as const,
        url: '/fhir/R4/',
        headers,
        body: toJsonText({ resourceType: 'Bundle', type: how, entry }),
      };
    })
  );
  return fc.oneof(
    { arbitrary: matched, weight: 3 },
    fc.tuple(target, fc.oneof(resource, bundleOf(targets), patch), contentType).map(([t, body, type]) => ({
      ...t,
      headers: { 'content-type': type },
      body: toJsonText(body),
    })),
    fc
      .tuple(target, rawBody, contentType)
      .map(([t, body, type]) => ({ ...t, headers: { 'content-type': type }, body })),
    bundleOf(targets).map((bundle) => ({
      method: 'POST' as const,
      url: '/fhir/R4/',
      headers: { 'content-type': 'application/fhir+json' },
      body: toJsonText(bundle),
    }))
  );
}

const searchParamName = fc.oneof(
  fc.constantFrom(
    'name',
    'gender',
    'birthdate',
    'identifier',
    'organization',
    'general-practitioner',
    'code',
    'subject',
    'patient',
    'value-quantity',
    'date',
    'code-value-quantity',
    '_id',
    '_lastUpdated',
    '_tag',
    '_profile',
    '_security',
    '_source',
    '_text',
    '_content',
    '_list',
    '_query',
    '_has:Observation:patient:code',
    '_has:Observation:subject:_has:Observation:subject:code',
    'subject:Patient.name',
    'subject:Patient.organization.partof.partof.name',
    'general-practitioner.name',
    'shoe-size',
    ...PROTOTYPE_KEYS
  ),
  fc.string({ maxLength: 12 })
);

const modifier = fc.constantFrom(
  '',
  '',
  '',
  ':missing',
  ':exact',
  ':contains',
  ':not',
  ':text',
  ':above',
  ':below',
  ':in',
  ':Patient',
  ':identifier',
  ':iterate',
  ':__proto__',
  ':x'
);

const searchValue = fc.oneof(
  fc.constantFrom(
    'true',
    'x',
    'ge2020-01-01',
    'lt99999',
    'ap1|http://unitsofmeasure.org|mg',
    'http://loinc.org|42595-9',
    '|',
    '||',
    '$',
    'a$b$c',
    'Patient/1',
    'eq',
    ',',
    ',,,',
    '\\,',
    '*',
    '-1',
    '99999999999999999999'
  ),
  NASTY_STRINGS,
  fc.string({ maxLength: 20 })
);

const resultParam = fc.oneof(
  fc.tuple(
    fc.constant('_sort'),
    fc.oneof(fc.constantFrom('name', '-birthdate', '__proto__', '-', '', 'x'), fc.string())
  ),
  fc.tuple(fc.constant('_count'), fc.constantFrom('0', '1', '-1', 'abc', '1e9', '99999999999999999999', '')),
  fc.tuple(fc.constant('_offset'), fc.constantFrom('0', '10', '-1', 'x', '1e21')),
  fc.tuple(fc.constant('_total'), fc.constantFrom('accurate', 'estimate', 'none', 'x', '')),
  fc.tuple(fc.constant('_summary'), fc.constantFrom('true', 'count', 'text', 'data', 'false', 'x')),
  fc.tuple(fc.constant('_elements'), fc.constantFrom('name', '__proto__', '', 'name.given', ',')),
  fc.tuple(
    fc.constantFrom('_include', '_revinclude', '_include:iterate', '_revinclude:iterate'),
    fc.constantFrom(
      '*',
      'Patient:organization',
      'Observation:subject',
      'Patient:__proto__',
      'x',
      ':',
      'Patient:name',
      ''
    )
  ),
  fc.tuple(
    fc.constant('_filter'),
    fc.constantFrom(
      'name eq "x"',
      'name eq "x" and (',
      '(',
      'not',
      'x eq',
      'name co "a" or gender eq male',
      '__proto__ eq 1'
    )
  ),
  fc.tuple(fc.constant('_type'), fc.constantFrom('Patient', 'Patient,Observation', '', 'Spaceship', '__proto__'))
);

/** Searches with junk parameters, modifiers and values, at type and system level. */
export function hostileSearches(): fc.Arbitrary<HostileRequest> {
  const pair = fc.oneof(
    fc.tuple(searchParamName, modifier, searchValue).map(([name, mod, value]) => [`${name}${mod}`, value] as const),
    resultParam
  );
  const base = fc.constantFrom('/fhir/R4/Patient', '/fhir/R4/Observation', '/fhir/R4/', '/fhir/R4/Patient/_history');
  return fc.tuple(base, fc.array(pair, { minLength: 1, maxLength: 5 }), fc.boolean()).map(([path, pairs, encode]) => {
    const query = pairs.map(([k, v]) => (encode ? `${percentEncode(k)}=${percentEncode(v)}` : `${k}=${v}`)).join('&');
    return { method: 'GET' as const, url: `${path}?${query}`, headers: {} };
  });
}

const segment = fc.oneof(
  fc.constantFrom(
    'Patient',
    'Observation',
    '_history',
    '_search',
    '$validate',
    '$everything',
    '$export',
    '$graphql',
    '$meta',
    'metadata',
    '1',
    '*',
    '..',
    '.',
    '',
    '%',
    '%zz',
    '%E0%A4%A',
    '%00',
    '%2F',
    '%C0%AF',
    ...TYPES,
    ...PROTOTYPE_KEYS
  ),
  fc.string({ maxLength: 10 }).map(percentEncode),
  fc.uuid()
);

/** Paths below /fhir/R4 and elsewhere, made of real and junk segments. */
export function hostilePaths(): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(
      fc.constantFrom('GET', 'GET', 'DELETE', 'POST', 'PUT', 'PATCH'),
      fc.constantFrom('/fhir/R4', '/fhir/R4', '/fhir', '', '/auth', '/oauth2', '/admin/projects', '/.well-known'),
      fc.array(segment, { minLength: 1, maxLength: 5 })
    )
    .map(([method, prefix, segments]) => ({
      method: method as HostileRequest['method'],
      url: `${prefix}/${segments.join('/')}`,
      headers:
        method === 'GET' || method === 'DELETE'
          ? {}
          : ({ 'content-type': 'application/fhir+json' } as Record<string, string>),
      body: method === 'GET' || method === 'DELETE' ? undefined : '{"resourceType":"Patient"}',
    }));
}

/** Percent-encodes the UTF-8 bytes of any string (lone surrogates become U+FFFD, as a client's encoder would). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
    )
    .join('');
}

const AUTH_ROUTES = [
  '/auth/method',
  '/auth/login',
  '/auth/profile',
  '/auth/mfa/verify',
  '/auth/mfa/setup',
  '/auth/mfa/enroll',
  '/auth/newuser',
  '/auth/newproject',
  '/auth/newpatient',
  '/auth/me',
  '/oauth2/token',
  '/oauth2/authorize',
  '/oauth2/userinfo',
  '/oauth2/logout',
  '/admin/projects/00000000-0000-4000-8000-000000000000/invite',
  '/admin/projects/00000000-0000-4000-8000-000000000000/client',
  '/admin/projects/00000000-0000-4000-8000-000000000000/bot',
  '/fhir/R4/Bot/$execute',
  '/fhir/R4/Bot/00000000-0000-4000-8000-000000000000/$execute',
];

const AUTH_FIELDS = [
  'email',
  'password',
  'login',
  'profile',
  'token',
  'clientId',
  'scope',
  'codeChallenge',
  'codeChallengeMethod',
  'projectId',
  'grant_type',
  'client_id',
  'client_secret',
  'code',
  'code_verifier',
  'refresh_token',
  'client_assertion',
  'client_assertion_type',
  'redirect_uri',
  'response_type',
  'resourceType',
  'firstName',
  'lastName',
  ...PROTOTYPE_KEYS,
];

/** Sign-in, token, admin and bot routes with junk JSON, form and query bodies. */
export function hostileAuthRequests(): fc.Arbitrary<HostileRequest> {
  const fields = fc.dictionary(fc.constantFrom(...AUTH_FIELDS), fc.oneof(jsonish, searchValue), { maxKeys: 5 });
  const formValue = fc.oneof(searchValue, fc.constantFrom('client_credentials', 'authorization_code', 'refresh_token'));
  const form = fc.dictionary(fc.constantFrom(...AUTH_FIELDS), formValue, { maxKeys: 5 }).map((d) =>
    Object.entries(d)
      .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
      .join('&')
  );
  return fc.oneof(
    fc.tuple(fc.constantFrom(...AUTH_ROUTES), fc.oneof(fields, jsonish)).map(([url, body]) => ({
      method: 'POST' as const,
      url,
      headers: { 'content-type': 'application/json' },
      body: toJsonText(body),
    })),
    fc.tuple(fc.constantFrom(...AUTH_ROUTES), form).map(([url, body]) => ({
      method: 'POST' as const,
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })),
    fc
      .tuple(fc.constantFrom(...AUTH_ROUTES), form)
      .map(([url, query]) => ({ method: 'GET' as const, url: `${url}?${query}`, headers: {} })),
    fc.tuple(fc.constantFrom(...AUTH_ROUTES), rawBody, contentType).map(([url, body, type]) => ({
      method: 'POST' as const,
      url,
      headers: { 'content-type': type },
      body,
    }))
  );
}

const GRAPHQL_PIECES = [
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  'PatientList',
  'Patient',
  '(id: "x")',
  '(_count: 99999)',
  '(name: "a")',
  'id',
  'name { given }',
  '...on Patient',
  'fragment f on Patient { id }',
  'mutation',
  'PatientCreate(res: {})',
  'ObservationList(_reference: patient)',
  '__schema { types { name } }',
  '$x',
  '"',
  '\\',
  '#',
];

/** `$graphql` queries assembled from GraphQL pieces: unbalanced, deep, introspective, mutating. */
export function hostileGraphql(): fc.Arbitrary<HostileRequest> {
  const query = fc.oneof(
    fc.array(fc.constantFrom(...GRAPHQL_PIECES), { maxLength: 30 }).map((pieces) => pieces.join(' ')),
    fc.integer({ min: 1, max: 3000 }).map((n) => `{${'PatientList { id '.repeat(n)}${'}'.repeat(n + 1)}`)
  );
  return fc.tuple(query, fc.option(jsonish, { nil: undefined })).map(([q, variables]) => ({
    method: 'POST' as const,
    url: '/fhir/R4/$graphql',
    headers: { 'content-type': 'application/json' },
    body: toJsonText(variables === undefined ? { query: q } : { query: q, variables }),
  }));
}

const HEADER_VALUES: Record<string, string[]> = {
  authorization: [
    '',
    'Bearer',
    'Bearer ',
    'Bearer x.y.z',
    'Bearer eyJhbGciOiJub25lIn0.eyJsb2dpbl9pZCI6IngifQ.',
    'Basic Og==',
    'Basic %%%',
    'Token abc',
  ],
  prefer: [
    'return=minimal',
    'return=OperationOutcome',
    'handling=lenient',
    'respond-async',
    'return=',
    'x'.repeat(3000),
  ],
  'if-match': ['W/"1"', '*', 'garbage', '""', 'W/"'],
  'if-none-exist': ['identifier=x', '', '__proto__=1', '_has:x'],
  accept: ['application/xml', '*/*', 'text/html', '', 'application/fhir+json;fhirVersion=3.0'],
  'content-type': ['application/fhir+json; charset=latin1', 'application/fhir+json;;', ';', 'application/'],
  'x-request-id': ['x'.repeat(200), '\u0000', 'a b'],
  'x-forwarded-for': ['1.1.1.1, 2.2.2.2', 'not-an-ip', '::1'],
};

/** Other requests with one or two headers replaced by junk (tokens, preconditions, media types). */
function withHostileHeaders(requests: fc.Arbitrary<HostileRequest>): fc.Arbitrary<HostileRequest> {
  const header = fc
    .constantFrom(...Object.keys(HEADER_VALUES))
    .chain((name) => fc.constantFrom(...HEADER_VALUES[name]).map((value) => [name, value] as const));
  return fc.tuple(requests, fc.array(header, { minLength: 1, maxLength: 2 })).map(([request, headers]) => ({
    ...request,
    headers: { ...request.headers, ...Object.fromEntries(headers) },
  }));
}

/** Every kind of hostile request, in the proportions a run should see them. */
export function hostileRequests(targets: FuzzTargets): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    { arbitrary: hostileWrites(targets), weight: 5 },
    { arbitrary: hostileSearches(), weight: 4 },
    { arbitrary: hostilePaths(), weight: 2 },
    { arbitrary: hostileAuthRequests(), weight: 2 },
    { arbitrary: hostileGraphql(), weight: 1 },
    { arbitrary: withHostileHeaders(fc.oneof(hostileWrites(targets), hostileSearches())), weight: 2 }
  );
}

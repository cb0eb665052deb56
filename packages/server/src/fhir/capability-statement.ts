import { getResourceTypes, getSearchParameters, globalSchema, tryGetDataType } from '@medplum/core';
import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceSearchParam,
  ResourceType,
  SearchParameter,
} from '@medplum/fhirtypes';
import { COMPARTMENT_TYPES } from '../repository/compartments.js';
import { loadFhirDefinitions } from './definitions.js';

export interface CapabilityStatementOptions {
  /** The server's public base URL, ending in `/` (e.g. `https://ehr.example.org/`). */
  baseUrl: string;
  /** Tiba's version, reported as `software.version`. */
  version: string;
}

const TYPE_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'create',
  'search-type',
] as const;
const SYSTEM_INTERACTIONS = ['transaction', 'batch', 'search-system', 'history-system'] as const;

const SMART_OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';
const OPERATION_DEFINITIONS = {
  validate: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
  expand: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand',
  graphql: 'http://hl7.org/fhir/OperationDefinition/Resource-graphql',
};

const cache = new Map<string, CapabilityStatement>();

/**
 * The server's CapabilityStatement (`GET fhir/R4/metadata`), generated from the indexed schema:
 * every resource type with its search parameters, the interactions FhirRouter serves, Tiba's
 * operations and SMART-on-FHIR security. Built once per base URL and version, then shared and
 * frozen: copy it before changing anything.
 * @see https://hl7.org/fhir/R4/capabilitystatement.html
 */
export function buildCapabilityStatement(options: CapabilityStatementOptions): CapabilityStatement {
  const key = `${options.baseUrl}|${options.version}`;
  let statement = cache.get(key);
  if (!statement) {
    loadFhirDefinitions();
    statement = deepFreeze(generateCapabilityStatement(options));
    cache.set(key, statement);
  }
  return statement;
}

function generateCapabilityStatement({ baseUrl, version }: CapabilityStatementOptions): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    name: 'Tiba',
    title: 'Tiba FHIR R4 server',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'Tiba',
    description: 'A self-hosted, FHIR-native health record server.',
    kind: 'instance',
    software: { name: 'Tiba', version },
    implementation: { description: 'Tiba FHIR R4 server', url: `${baseUrl}fhir/R4` },
    fhirVersion: '4.0.1',
    format: ['json'],
    patchFormat: ['application/json-patch+json'],
    rest: [buildRest(baseUrl)],
  };
}

function buildRest(baseUrl: string): CapabilityStatementRest {
  const types = getResourceTypes().sort();
  const revIncludes = collectRevIncludes(types);
  return {
    mode: 'server',
    security: {
      cors: true,
      service: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
          text: 'OAuth2 with the SMART App Launch profile',
        },
      ],
      extension: [
        {
          url: SMART_OAUTH_URIS,
          extension: [
            { url: 'authorize', valueUri: `${baseUrl}oauth2/authorize` },
            { url: 'token', valueUri: `${baseUrl}oauth2/token` },
          ],
        },
      ],
    },
    resource: types.map((type) => buildResource(type, revIncludes.get(type) ?? [])),
    interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
    // Searchable as `Patient/123/Observation` (compartment-search.ts)
    compartment: COMPARTMENT_TYPES.map((code) => `http://hl7.org/fhir/CompartmentDefinition/${compartmentId(code)}`),
    operation: [{ name: 'graphql', definition: OPERATION_DEFINITIONS.graphql }],
  };
}

function buildResource(type: ResourceType, revIncludes: string[]): CapabilityStatementRestResource {
  const params = Object.values(getSearchParameters(type) ?? {});
  const operation = [{ name: 'validate', definition: OPERATION_DEFINITIONS.validate }];
  if (type === 'ValueSet') {
    operation.push({ name: 'expand', definition: OPERATION_DEFINITIONS.expand });
  }
  return {
    type,
    // R4 types are defined by hl7.org, Medplum's own (Project, Bot, …) by medplum.com
    profile: tryGetDataType(type)?.url,
    interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: true,
    conditionalCreate: true,
    conditionalUpdate: true,
    // FhirRouter's conditional delete removes one match and refuses (412) when several match.
    conditionalDelete: 'single',
    // JSON arrays are never empty (https://hl7.org/fhir/R4/json.html): a type without any is left out.
    searchInclude: nonEmpty(params.filter(isIncludable).map((p) => `${type}:${p.code}`)),
    searchRevInclude: nonEmpty(revIncludes),
    searchParam: nonEmpty(params.map(toSearchParam)),
    operation,
  };
}

function nonEmpty<T>(values: T[]): T[] | undefined {
  return values.length ? values : undefined;
}

/** For each type, the `Source:param` pairs of reference parameters that can point at it. */
function collectRevIncludes(types: string[]): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const source of types) {
    for (const param of Object.values(getSearchParameters(source) ?? {})) {
      if (!isIncludable(param)) {
        continue;
      }
      for (const target of param.target ?? []) {
        const list = result.get(target) ?? [];
        list.push(`${source}:${param.code}`);
        result.set(target, list);
      }
    }
  }
  return result;
}

/**
 * Reference parameters defined by a SearchParameter resource. The schema's built-in
 * `_compartment` parameter targets every type; listing it would add ~20,000 entries for nothing.
 */
function isIncludable(param: SearchParameter): boolean {
  return param.type === 'reference' && !!param.url && !!param.target?.length;
}

function toSearchParam(param: SearchParameter): CapabilityStatementRestResourceSearchParam {
  return {
    name: param.code as string,
    // The schema's built-in parameters (_id, _lastUpdated, _tag, …) carry no URL; the R4
    // Resource-level SearchParameter of the same code is their definition, when there is one.
    definition: param.url ?? globalSchema.types.Resource?.searchParams?.[param.code as string]?.url,
    type: param.type,
  };
}

/** The ids of R4's CompartmentDefinitions: `patient`, `encounter`, `relatedPerson`, … */
function compartmentId(code: string): string {
  return code[0].toLowerCase() + code.slice(1);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
    Object.freeze(value);
  }
  return value;
}

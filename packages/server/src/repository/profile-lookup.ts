import type { FhirRepository } from '@medplum/fhir-router';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { getRegisteredProfile, registerProfile } from '../fhir/definitions.js';

/**
 * Makes the profiles a resource claims (meta.profile) known to the validator when the server
 * holds them: those from fhir-profiles/ are registered at start; others are looked up among
 * the stored StructureDefinitions the first time they are named.
 */
export async function resolveClaimedProfiles(
  systemRepo: FhirRepository,
  profileUrls: string[] | undefined
): Promise<void> {
  for (const url of profileUrls ?? []) {
    if (getRegisteredProfile(url)) {
      continue;
    }
    const sd = await systemRepo.searchOne<StructureDefinition>({
      resourceType: 'StructureDefinition',
      filters: [{ code: 'url', operator: 'eq', value: url.split('|')[0] }],
      sortRules: [{ code: '_lastUpdated', descending: true }],
    });
    if (sd?.derivation === 'constraint' && sd.snapshot?.element?.length) {
      registerProfile(sd);
    }
  }
}

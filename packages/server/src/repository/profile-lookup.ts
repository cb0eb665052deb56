import type { FhirRepository } from '@medplum/fhir-router';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { getRegisteredProfile, registerProfile } from '../fhir/definitions.js';

/** Profiles looked up and not held, until when: claims of unheld profiles cost no query per write. */
const misses = new Map<string, number>();
const MISS_TTL_MS = 60_000;
const MAX_MISSES = 10_000;

/**
 * Makes the profiles a resource claims (meta.profile) known to the validator when the server
 * holds them: those from fhir-profiles/ are registered at start; others are looked up among
 * the stored StructureDefinitions the first time they are named.
 */

export async function resolveClaimedProfiles(systemRepo: FhirRepository, profileUrls: unknown): Promise<void> {
  // Called before validation: a malformed meta.profile is left for the validator to report.
  const urls = Array.isArray(profileUrls) ? profileUrls.filter((url): url is string => typeof url === 'string') : [];
  for (const url of urls) {
    if (getRegisteredProfile(url) || (misses.get(url) ?? 0) > Date.now()) {
      continue;
    }
    const sd = await systemRepo.searchOne<StructureDefinition>({
      resourceType: 'StructureDefinition',
      filters: [{ code: 'url', operator: 'eq', value: url.split('|')[0] }],
      sortRules: [{ code: '_lastUpdated', descending: true }],
    });
    if (sd?.derivation === 'constraint' && sd.snapshot?.element?.length) {
      registerProfile(sd);
    } else {
      if (misses.size >= MAX_MISSES) {
        misses.clear(); // any client can name URLs: keep the memory bounded
      }
      misses.set(url, Date.now() + MISS_TTL_MS);
    }
  }
}

import { readBaseDefinitionResources, readProfileFolder, registerProfile } from '../fhir/definitions.js';
import type { PostgresRepository } from '../repository/repository.js';

/**
 * Stores the R4 StructureDefinitions and SearchParameters as resources (the web app's
 * `requestSchema()` reads them through $graphql), once, on an empty database.
 * `repo` must be a system repository without validation: this is the specification itself.
 */
export async function seedBaseDefinitions(repo: PostgresRepository): Promise<number> {
  const existing = await repo.searchOne({ resourceType: 'StructureDefinition', count: 1 });
  if (existing) {
    return 0;
  }
  const resources = readBaseDefinitionResources();
  await repo.withTransaction(
    async (tx) => {
      for (const resource of resources) {
        await tx.createResource(resource, { assignedId: true });
      }
    },
    { resourceTypes: ['StructureDefinition', 'SearchParameter'] }
  );
  return resources.length;
}

/**
 * Loads the profiles of a folder (the repo's fhir-profiles/) into the validator and stores
 * them as StructureDefinition resources, replacing older copies with the same id.
 */
export async function loadProfiles(repo: PostgresRepository, dir: string): Promise<string[]> {
  const urls: string[] = [];
  for (const profile of readProfileFolder(dir)) {
    registerProfile(profile);
    if (profile.id) {
      await repo.updateResource(profile);
    }
    if (profile.url) {
      urls.push(profile.url);
    }
  }
  return urls;
}

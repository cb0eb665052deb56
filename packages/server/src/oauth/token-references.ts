import { getDisplayString } from '@medplum/core';
import type { Project, ProjectMembership, Reference, Resource } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';

/**
 * The `project` and `profile` of a token response, each with the `display` Medplum sends: its
 * CLI prints them (`whoami`, `project list`). The membership's own display wins, as in the
 * profile chooser; else the project's name and the profile's (a human name for Practitioner
 * and Patient, `name` for ClientApplication and Bot). `profile` is passed when already read.
 */
export async function tokenReferences(
  systemRepo: PostgresRepository,
  membership: Pick<ProjectMembership, 'project' | 'profile'>,
  profile?: Resource
): Promise<{ project: Reference<Project>; profile: Reference }> {
  const [project, profileResource] = await systemRepo.readReferences<Resource>([
    membership.project,
    ...(profile ? [] : [membership.profile]),
  ]);
  const loadedProfile = profile ?? profileResource;
  return {
    project: {
      reference: membership.project.reference,
      display: membership.project.display ?? (project instanceof Error ? undefined : (project as Project).name),
    },
    profile: {
      reference: membership.profile.reference,
      display:
        membership.profile.display ??
        (loadedProfile === undefined || loadedProfile instanceof Error ? undefined : getDisplayString(loadedProfile)),
    },
  };
}

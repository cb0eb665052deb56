import type { WithId } from '@medplum/core';
import type {
  AccessPolicy,
  Project,
  ProjectMembership,
  Reference,
  Resource,
  User,
  UserConfiguration,
  UserConfigurationMenu,
} from '@medplum/fhirtypes';
import { resolveMembershipPolicy } from '../access/access-context.js';
import type { PostgresRepository } from '../repository/repository.js';
import type { VerifiedToken } from './access-token.js';

/** `GET auth/me`: what MedplumClient keeps as its session (`SessionDetails`). */
export interface SessionDetails {
  user?: { resourceType: 'User'; id: string; email?: string };
  project: { resourceType: 'Project'; id: string; name?: string; strictMode?: boolean; superAdmin?: boolean };
  membership: {
    resourceType: 'ProjectMembership';
    id: string;
    user: ProjectMembership['user'];
    profile: ProjectMembership['profile'];
    admin?: boolean;
  };
  profile: Resource;
  config: UserConfiguration;
  accessPolicy?: AccessPolicy;
  security?: { mfaEnrolled: boolean };
}

export async function readSessionDetails(systemRepo: PostgresRepository, auth: VerifiedToken): Promise<SessionDetails> {
  const [membership, project] = await Promise.all([
    systemRepo.readResource<ProjectMembership>('ProjectMembership', auth.membership),
    systemRepo.readResource<Project>('Project', auth.project),
  ]);
  const [profile, config, accessPolicy, user] = await Promise.all([
    systemRepo.readReference<Resource>(membership.profile as Reference<Resource>),
    userConfiguration(systemRepo, project, membership),
    resolveMembershipPolicy(systemRepo, membership),
    membership.user?.reference?.startsWith('User/')
      ? systemRepo.readReference<User>(membership.user as Reference<User>).catch(() => undefined)
      : undefined,
  ]);
  return {
    user: user ? { resourceType: 'User', id: user.id, email: user.email } : undefined,
    project: {
      resourceType: 'Project',
      id: project.id,
      name: project.name,
      strictMode: project.strictMode,
      superAdmin: project.superAdmin,
    },
    membership: {
      resourceType: 'ProjectMembership',
      id: membership.id,
      user: membership.user,
      profile: membership.profile,
      admin: membership.admin,
    },
    profile,
    config,
    accessPolicy,
    security: user ? { mfaEnrolled: Boolean(user.mfaEnrolled) } : undefined,
  };
}

/** The membership's UserConfiguration, or a default one; its menu drives the web app's sidebar. */
async function userConfiguration(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  membership: WithId<ProjectMembership>
): Promise<UserConfiguration> {
  const stored = membership.userConfiguration
    ? await systemRepo.readReference<UserConfiguration>(membership.userConfiguration).catch(() => undefined)
    : undefined;
  const config: UserConfiguration = stored ?? { resourceType: 'UserConfiguration' };
  return config.menu ? config : { ...config, menu: defaultMenu(project, membership) };
}

function defaultMenu(project: Project, membership: ProjectMembership): UserConfigurationMenu[] {
  const link = (name: string, target = `/${name}`) => ({ name, target });
  const menu: UserConfigurationMenu[] = [
    {
      title: 'Favorites',
      link: ['Patient', 'Practitioner', 'Organization', 'Appointment', 'Observation', 'Questionnaire'].map((t) =>
        link(t)
      ),
    },
  ];
  if (membership.admin) {
    menu.push({
      title: 'Admin',
      link: [
        link('Project', '/admin/project'),
        link('AccessPolicy'),
        link('Subscriptions', '/Subscription'),
        link('Audit', '/AuditEvent'),
      ],
    });
  }
  if (project.superAdmin) {
    menu.push({ title: 'Super Admin', link: [link('Projects', '/Project')] });
  }
  return menu;
}

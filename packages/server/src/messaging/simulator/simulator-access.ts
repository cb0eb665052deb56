import { forbidden, OperationOutcomeError } from '@medplum/core';
import type { FastifyRequest } from 'fastify';
import type { RepositoryFactory } from '../../repository/factory.js';

/**
 * The project of a caller who may use the phone simulator: clinic staff (a Practitioner, or an
 * admin client) whose access policy lets them read the conversations it shows. 403 otherwise:
 * a patient's own sign-in must not play other people's phones.
 */
export async function requireSimulatorUser(request: FastifyRequest, repositories: RepositoryFactory): Promise<string> {
  const auth = request.auth;
  const profileType = auth?.profile.split('/')[0];
  if (!auth || (profileType !== 'Practitioner' && profileType !== 'ClientApplication')) {
    throw new OperationOutcomeError({
      ...forbidden,
      issue: [{ ...forbidden.issue[0], diagnostics: 'The phone simulator is for clinic staff' }],
    });
  }
  // Throws 403 when the caller's policy grants no search on Communication.
  const repo = await repositories.forRequest(request);
  await repo.searchResources({ resourceType: 'Communication', count: 1 });
  return auth.project;
}

import type { WithId } from '@medplum/core';
import { getStatus, isGone, isNotFound, OperationOutcomeError } from '@medplum/core';
import type { Login } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';
import type { LoginStatus } from './login-status.js';

/** A Login id from the outside world; anything else reads as missing. */
const LOGIN_ID = /^[A-Za-z0-9-]{1,64}$/;

/** Reads a Login; undefined when it does not exist (or the id is not one). */
export async function readLogin(systemRepo: PostgresRepository, id: unknown): Promise<WithId<Login> | undefined> {
  if (typeof id !== 'string' || !LOGIN_ID.test(id)) {
    return undefined;
  }
  return systemRepo.readResource<Login>('Login', id).catch((err) => {
    // Missing or deleted: no such Login. Anything else (database down) is the server's failure.
    if (err instanceof OperationOutcomeError && (isNotFound(err.outcome) || isGone(err.outcome))) {
      return undefined;
    }
    throw err;
  });
}

/**
 * Writes a Login only if nobody changed it since it was read (If-Match on its version). Every
 * step of a sign-in (membership, code, grant, refresh rotation) goes through here, so that two
 * requests racing with the same code or refresh token cannot both win. Returns undefined when
 * the Login changed in between.
 */
export async function updateLoginIfUnchanged(
  systemRepo: PostgresRepository,
  login: WithId<Login>
): Promise<WithId<Login> | undefined> {
  try {
    return await systemRepo.updateResource<Login>(login, { ifMatch: `W/"${login.meta?.versionId}"` });
  } catch (err) {
    if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 412) {
      return undefined;
    }
    throw err;
  }
}

/**
 * Revokes a Login: its access tokens stop working (at once in this process, within the status
 * cache's lifetime in others) and its refresh token is refused.
 */
export async function revokeLogin(
  systemRepo: PostgresRepository,
  loginStatus: LoginStatus,
  loginId: string
): Promise<void> {
  loginStatus.markRevoked(loginId);
  const login = await readLogin(systemRepo, loginId);
  if (login && !login.revoked) {
    await systemRepo.updateResource<Login>({ ...login, revoked: true });
  }
  loginStatus.markRevoked(loginId);
}

import { Script } from 'node:vm';
import { allOk, badRequest, ContentType, OperationOutcomeError } from '@medplum/core';
import type { FhirRepository, FhirRequest, FhirResponse, FhirRouter } from '@medplum/fhir-router';
import type { Binary, Bot } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';

/**
 * `POST Bot/:id/$deploy {code, filename?}` (Medplum's operation): stores the compiled CommonJS
 * code as a JavaScript Binary and points `Bot.executableCode` at it. Both writes go through the
 * caller's repository, in one transaction: only a caller who may update the Bot (project admins)
 * deploys, and a clinician, whose policy has no Bot, gets 404.
 */
export function registerDeployOperation(router: FhirRouter): void {
  router.add('POST', 'Bot/:id/$deploy', deployOperation);
}

async function deployOperation(req: FhirRequest, fhirRepo: FhirRepository): Promise<FhirResponse> {
  const repo = fhirRepo as PostgresRepository;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const code = body.code;
  if (typeof code !== 'string' || !code.trim()) {
    return [badRequest('Missing code', 'code')];
  }
  const filename = body.filename === undefined ? 'index.js' : body.filename;
  if (typeof filename !== 'string' || !/^[\w.@-]{1,200}$/.test(filename)) {
    return [badRequest('filename must be a plain file name', 'filename')];
  }
  checkSyntax(code, filename);
  await repo.withTransaction(async (tx) => {
    const bot = await tx.readResource<Bot>('Bot', req.params.id);
    const binary = await tx.createResource<Binary>({
      resourceType: 'Binary',
      contentType: ContentType.JAVASCRIPT,
      data: Buffer.from(code, 'utf8').toString('base64'),
    });
    await tx.updateResource<Bot>({
      ...bot,
      executableCode: { contentType: ContentType.JAVASCRIPT, url: `Binary/${binary.id}`, title: filename },
    });
  });
  return [allOk];
}

/** Parses (never runs) the code, so a syntax error is a 400 now rather than a failed run later. */
function checkSyntax(code: string, filename: string): void {
  try {
    new Script(`(function (exports, require, module, __filename, __dirname) {\n${code}\n})`, { filename });
  } catch (err) {
    throw new OperationOutcomeError(badRequest(`Bot code does not parse: ${(err as Error).message}`, 'code'));
  }
}

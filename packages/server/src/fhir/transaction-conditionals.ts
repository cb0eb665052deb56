import { allOk, isOk, isResourceType, OperationOutcomeError } from '@medplum/core';
import type { FhirRepository, FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, ResourceType } from '@medplum/fhirtypes';
import {
  isConditionalEntry,
  type Resolution,
  resolutionOrder,
  resolveConditionalEntry,
} from './transaction-conditional-entries.js';
import { rewriteReferences } from './transaction-references.js';

/** A transaction whose conditional entries have been resolved, ready for FhirRouter's processor. */
interface ResolvedTransaction {
  /** The entries still to process, none of them conditional. */
  bundle: Bundle;
  /** For each entry of `bundle`, its index in the bundle as sent. */
  sourceIndex: number[];
  /** Responses already decided (conditional entries with nothing left to do), by index as sent. */
  responses: BundleEntry[];
  /** How many entries the bundle as sent has. */
  size: number;
}

/**
 * Wraps the `batch` route: a transaction with conditional create/update/delete entries has them
 * resolved by search inside one SERIALIZABLE database transaction, which FhirRouter's processor
 * then joins and so never sees them as conditional (https://hl7.org/fhir/R4/http.html#trules).
 * Other bundles go straight to the route.
 */
export function withResolvedConditionals(batch: FhirRouteHandler): FhirRouteHandler {
  return async (req, repo, router, options) => {
    if (!needsResolution(req)) {
      return batch(req, repo, router, options);
    }
    return repo.withTransaction(
      async (txRepo) => {
        // A serialization failure retries this callback: each attempt starts from the bundle as sent.
        const resolved = await resolveTransaction(structuredClone(req.body as Bundle), txRepo);
        return processResolved(resolved, (bundle) => batch({ ...req, body: bundle }, txRepo, router, options));
      },
      { serializable: true, resourceTypes: addressedTypes(req.body as Bundle) }
    );
  };
}

function needsResolution(req: FhirRequest): boolean {
  const bundle = req.body as Bundle | undefined;
  return (
    bundle?.resourceType === 'Bundle' &&
    bundle.type === 'transaction' &&
    Boolean(req.config?.transactions) &&
    Array.isArray(bundle.entry) &&
    bundle.entry.some(isConditionalEntry)
  );
}

/** The resource types the entries' request URLs address. */
function addressedTypes(bundle: Bundle): Set<ResourceType> {
  const types = new Set<ResourceType>();
  for (const entry of bundle.entry ?? []) {
    const type = entry?.request?.url?.split(/[/?]/)[0];
    if (type && isResourceType(type)) {
      types.add(type as ResourceType);
    }
  }
  return types;
}

/** Runs what is left through FhirRouter's processor and puts the decided responses back in place. */
async function processResolved(
  resolved: ResolvedTransaction,
  processBundle: (bundle: Bundle) => Promise<FhirResponse>
): Promise<FhirResponse> {
  if (!resolved.bundle.entry?.length) {
    return [allOk, responseBundle(resolved, [])];
  }
  let response: FhirResponse;
  try {
    response = await processBundle(resolved.bundle);
  } catch (err) {
    throw renumberEntries(err, resolved.sourceIndex);
  }
  const [outcome, result] = response;
  if (!isOk(outcome)) {
    throw new OperationOutcomeError(outcome); // roll back: the processor refused the bundle
  }
  return [outcome, responseBundle(resolved, (result as Bundle).entry ?? [])];
}

/** Resolves every conditional entry, then points references to their fullUrls at the resources found. */
async function resolveTransaction(bundle: Bundle, repo: FhirRepository): Promise<ResolvedTransaction> {
  const entries = bundle.entry ?? [];
  const targets = new Map<string, string>();
  const resolutions = new Map<number, Resolution>();
  for (const index of resolutionOrder(entries)) {
    const entry = entries[index];
    rewriteReferences(entry.request, targets); // its query may name an entry resolved before it
    const resolution = await resolveConditionalEntry(entry, index, repo);
    if (resolution.target && entry.fullUrl) {
      targets.set(entry.fullUrl, resolution.target);
    }
    resolutions.set(index, resolution);
  }
  const resolved: ResolvedTransaction = {
    bundle: { ...bundle, entry: [] },
    sourceIndex: [],
    responses: [],
    size: entries.length,
  };
  entries.forEach((sent, index) => {
    const resolution = resolutions.get(index);
    if (resolution?.response) {
      resolved.responses[index] = resolution.response;
      return;
    }
    const entry = resolution?.entry ?? sent;
    rewriteReferences(entry?.resource, targets);
    rewriteReferences(entry?.request, targets);
    resolved.bundle.entry?.push(entry);
    resolved.sourceIndex.push(index);
  });
  return resolved;
}

/** One response entry per entry as sent, in order: https://hl7.org/fhir/R4/http.html#transaction */
function responseBundle(resolved: ResolvedTransaction, processed: BundleEntry[]): Bundle {
  const entry = Array.from({ length: resolved.size }, (_, i) => resolved.responses[i]);
  resolved.sourceIndex.forEach((source, i) => {
    entry[source] = processed[i];
  });
  return { resourceType: 'Bundle', type: 'transaction-response', entry };
}

/** FhirRouter names entries by their index in the bundle it was given; name them as the client sent them. */
function renumberEntries(err: unknown, sourceIndex: readonly number[]): unknown {
  if (!(err instanceof OperationOutcomeError)) {
    return err;
  }
  for (const issue of err.outcome.issue ?? []) {
    if (issue.expression) {
      issue.expression = issue.expression.map((path) =>
        path.replace(/^Bundle\.entry\[(\d+)\]/, (whole, n: string) =>
          sourceIndex[Number(n)] === undefined ? whole : `Bundle.entry[${sourceIndex[Number(n)]}]`
        )
      );
    }
  }
  return err;
}

// Small helpers every bot needs when it decides on current data rather than on the event.
import type { MedplumClient } from '@medplum/core';
import type { Patient, Reference, Resource, ResourceType } from '@medplum/fhirtypes';

/** The resource as stored now; undefined when it was deleted since the event (or never existed). */
export async function readCurrent<T extends Resource>(
  medplum: MedplumClient,
  resourceType: T['resourceType'],
  id: string
): Promise<T | undefined> {
  try {
    return (await medplum.readResource(resourceType as ResourceType, id, { cache: 'no-cache' })) as unknown as T;
  } catch (err) {
    const code = (err as { outcome?: { issue?: { code?: string }[] } }).outcome?.issue?.[0]?.code;
    if (code === 'not-found' || code === 'deleted') {
      return undefined;
    }
    throw err;
  }
}

/** The id in a local `Patient/<id>` reference; undefined for other references. */
export function patientIdOf(reference: Reference | undefined): string | undefined {
  const match = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference?.reference ?? '');
  return match?.[1];
}

/** The patient's name for a reference's `display`: `name.text`, else given names and family. */
export function displayName(patient: Patient): string | undefined {
  const name = patient.name?.[0];
  if (!name) {
    return undefined;
  }
  return name.text ?? ([...(name.given ?? []), name.family].filter(Boolean).join(' ') || undefined);
}

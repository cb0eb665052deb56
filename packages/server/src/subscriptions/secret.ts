import { randomBytes } from 'node:crypto';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { SECRET_URL, subscriptionSecret } from './extensions.js';

/**
 * A rest-hook Subscription always has a signing secret: the one it names, else the one its
 * previous version had (a PUT that leaves it out keeps it), else a new random one. Only those
 * who may read the Subscription see it (admins under the shipped roles).
 * Returns the resource unchanged when it is not a rest-hook Subscription or has a secret.
 * `readPrevious` gives the version being replaced; it is called only when its secret is needed.
 */
export function withSubscriptionSecret<T extends Resource>(resource: T, readPrevious?: () => Resource | undefined): T {
  if (resource.resourceType !== 'Subscription') {
    return resource;
  }
  const subscription = resource as Subscription;
  if (subscription.channel?.type !== 'rest-hook' || subscriptionSecret(subscription)) {
    return resource;
  }
  const previous = readPrevious?.();
  const kept = previous?.resourceType === 'Subscription' ? subscriptionSecret(previous as Subscription) : undefined;
  const secret = kept ?? randomBytes(32).toString('hex');
  return { ...resource, extension: [...(subscription.extension ?? []), { url: SECRET_URL, valueString: secret }] };
}

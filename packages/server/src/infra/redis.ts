import { Redis } from 'ioredis';

/** A Redis client that reconnects forever but never queues commands while disconnected. */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  // Connection errors surface through the health check; an 'error' listener keeps them from crashing.
  redis.on('error', () => undefined);
  return redis;
}

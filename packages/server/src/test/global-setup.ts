import type { TestProject } from 'vitest/node';
import { loadConfig } from '../config.js';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { createPool, migrate } from '../infra/postgres.js';
import { PostgresRepository } from '../repository/repository.js';
import { seedBaseDefinitions } from '../setup/seed-definitions.js';
import { createDatabase, dropDatabase, randomDatabaseName } from './test-database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Builds, once per test run, a template database with the schema and the R4 definitions;
 * each test file then copies it (CREATE DATABASE ... TEMPLATE) instead of seeding again.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const name = randomDatabaseName('tiba_test_template');
  const url = await createDatabase(name);
  await migrate(url);
  loadFhirDefinitions();
  const config = loadConfig({ DATABASE_URL: url });
  const pool = createPool(url, 4);
  try {
    await seedBaseDefinitions(
      new PostgresRepository({ pool, baseUrl: config.baseUrl, maxAccurateTotal: 10_000, validate: () => undefined })
    );
  } finally {
    await pool.end();
  }
  project.provide('templateDatabase', name);
  return async () => {
    await dropDatabase(name);
  };
}

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // One browser and one server at a time: the machine has two cores shared with the other tests.
    maxWorkers: 1,
    fileParallelism: false,
    // Generous: under `npm test` the server's own tests run alongside on the same two cores.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});

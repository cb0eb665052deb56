import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    setupFiles: ['src/test-setup.ts'],
    // The integration test starts the built server as a child process: give it time on two busy cores.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});

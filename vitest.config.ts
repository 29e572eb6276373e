import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 900_000,
    pool: 'forks',
    // The JSON report is what .ci/run summarises as "N passed, N failed".
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
  },
});

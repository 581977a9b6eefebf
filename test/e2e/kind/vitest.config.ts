import { defineConfig } from 'vitest/config';

// Only for run.sh: the kind scenarios, one file, generous timeouts.
export default defineConfig({
  test: {
    include: ['test/e2e/kind/**/*.kind.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});

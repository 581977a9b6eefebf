import { defineConfig } from 'vitest/config';

// Three tiers (ARCHITECTURE.md §3).
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Integration and e2e files share one control plane and one lab; with 2 cores,
    // running files one at a time costs little and keeps them from racing.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', '{api,kube,controller,speaker,lab}/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['./test/support/control-plane-setup.ts'],
          setupFiles: ['./test/support/keep-failed-logs.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: ['test/e2e/kind/**'],
          globalSetup: ['./test/support/lab-setup.ts'],
          setupFiles: ['./test/support/keep-failed-logs.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});

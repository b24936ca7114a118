import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and kubectl processes; on 2 cores a
    // little parallelism is enough and keeps timing-sensitive tests stable.
    maxWorkers: 2,
    pool: 'forks',
  },
});

import { defineConfig } from 'vitest/config';

const FLEET = 'test/integration/fleet/**/*.test.ts';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and kubectl processes; on 2 cores a
    // little parallelism is enough and keeps timing-sensitive tests stable.
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [FLEET], sequence: { groupOrder: 0 } } },
      // The fleet tests run several proxy processes under load and time their convergence: they
      // run after the rest, so neither starves the other's timing on a 2-core machine.
      { extends: true, test: { name: 'fleet', include: [FLEET], sequence: { groupOrder: 1 } } },
    ],
  },
});

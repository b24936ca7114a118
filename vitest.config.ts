import { defineConfig } from 'vitest/config';

// Several processes under load each, timing convergence: run after the rest, apart. (The status
// page's browser test runs the demo and a browser; the Prometheus one the demo and a Prometheus.)
const HEAVY = ['test/integration/fleet/**/*.test.ts', 'test/integration/demo/**/*.test.ts', 'test/integration/ui/status-page.test.ts', 'test/integration/observability/prometheus-demo.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers and kubectl processes; on 2 cores a
    // little parallelism is enough and keeps timing-sensitive tests stable.
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: HEAVY, sequence: { groupOrder: 0 } } },
      // The fleet and demo tests run several proxy processes under load and time their convergence:
      // they run after the rest, so neither starves the other's timing on a 2-core machine.
      { extends: true, test: { name: 'heavy', include: HEAVY, sequence: { groupOrder: 1 } } },
    ],
  },
});

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

function plan(stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'plan']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('meridian plan', () => {
  it('prints the plan for every cluster and the overflow', async () => {
    const r = await plan(
      JSON.stringify({
        preferences: '{"rebalance": true, "clusters": {"*": {"weight": 1}}}',
        replicas: 50,
        clusters: ['A', 'B', 'C'],
        current: {},
        estimatedCapacity: { C: 10 },
        key: '',
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('{"plan":{"A":20,"B":20,"C":10},"overflow":{"C":7}}\n');
  });

  it('spreads evenly without preferences', async () => {
    const r = await plan(JSON.stringify({ preferences: null, replicas: 3, clusters: ['x', 'y', 'z'], key: 'default/nginx' }));
    expect(JSON.parse(r.stdout)).toEqual({ plan: { x: 1, y: 1, z: 1 }, overflow: {} });
  });

  it.each([
    ['not json', 'E_PLAN_INPUT: stdin is not valid JSON'],
    ['{"replicas": -1, "clusters": []}', 'E_PLAN_INPUT: replicas:'],
    ['{"replicas": 1}', 'E_PLAN_INPUT: clusters:'],
    ['{"replicas": 1, "clusters": ["a"], "extra": 1}', 'E_PLAN_INPUT'],
    ['{"preferences": "{", "replicas": 1, "clusters": ["a"]}', 'E_PLAN_PREFERENCES: preferences: not valid JSON'],
  ])('rejects %s with exit 2 and a stable code', async (stdin, message) => {
    const r = await plan(stdin);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });
});

import { describe, expect, it } from 'vitest';
import { mapSelectorMatches, selectorMatches } from '../../../src/sandbox/cluster/labels.js';

describe('label selectors', () => {
  const labels = { app: 'nginx', tier: 'web' };
  it.each([
    [{ matchLabels: { app: 'nginx' } }, true],
    [{ matchLabels: { app: 'other' } }, false],
    [{}, true],
    [undefined, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['web', 'api'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['web'] }] }, false],
    [{ matchExpressions: [{ key: 'gone', operator: 'DoesNotExist' as const }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' as const }] }, true],
  ])('LabelSelector %j → %s', (sel, want) => {
    expect(selectorMatches(sel, labels)).toBe(want);
  });
  it.each([
    [{ app: 'nginx' }, true],
    [{ app: 'nginx', tier: 'db' }, false],
    [{}, false],
    [undefined, false],
  ])('Service selector %j → %s', (sel, want) => {
    expect(mapSelectorMatches(sel, labels)).toBe(want);
  });
});

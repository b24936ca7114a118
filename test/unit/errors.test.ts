import { describe, expect, it } from 'vitest';
import { MeridianError, isMeridianError } from '../../src/common/errors.js';

describe('MeridianError', () => {
  it.each([
    [new MeridianError('E_X', 'broken'), 'E_X: broken'],
    [new MeridianError('E_Y', 'bad', 'fix it'), 'E_Y: bad\n  hint: fix it'],
  ])('describes itself with its code and hint', (err, text) => {
    expect(isMeridianError(err)).toBe(true);
    expect(err.describe()).toBe(text);
  });
  it('does not claim foreign errors', () => {
    expect(isMeridianError(new Error('x'))).toBe(false);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROXY_ERRORS } from '../../../src/proxy/errors.js';

describe('the proxy\'s error catalogue and the README', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  it.each(Object.entries(PROXY_ERRORS))('%s is documented with its status', (code, e) => {
    // Listed as `CODE` and followed, in its group, by the status: `E_A`, `E_B` 400.
    const at = readme.indexOf(`\`${code}\``);
    expect(at, `${code} missing from the README`).toBeGreaterThan(0);
    const after = readme.slice(at, at + 120).replace(/\s+/g, ' ');
    expect(after).toMatch(new RegExp(`^\`${code}\`(?:, \`E_[A-Z_]+\`)* ${e.status}\\b`));
  });
});

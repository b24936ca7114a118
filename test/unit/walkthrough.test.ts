import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { walkthrough } from '../../src/cli/walkthrough.js';

describe('the walkthrough the demo prints is the one the README shows', () => {
  it('README contains the demo\'s walkthrough for the default settings, word for word', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const text = walkthrough({ kubeconfig: '$PWD/.meridian/sandbox/kubeconfig', vips: ['127.0.0.1:8080'], tlsVips: ['127.0.0.1:8443'], certificateDir: '.meridian/sandbox', proxyAdmin: '127.0.0.1:9901', controllerMetrics: '127.0.0.1:9900', proxyConfig: '$PWD/.meridian/sandbox/proxy.yaml', seeded: true });
    expect(readme).toContain(text.trim());
  });
});

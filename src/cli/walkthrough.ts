/**
 * The seed walkthrough as `meridian demo` prints it. The README shows it for the defaults (a test
 * keeps the two the same), so what a new user reads and what the demo says never drift apart.
 */
export interface WalkthroughOptions {
  /** As the user should type it: `$PWD/.meridian/sandbox/kubeconfig` in the README. */
  kubeconfig: string;
  /** host:port of each proxy's VIP; the first is the one the examples use. */
  vips: string[];
  /** host:port of each proxy's HTTPS VIP (`--vip-tls`), in the same order. */
  tlsVips: string[];
  /** Where the walkthrough's certificate and key go, as the user should type it (`.meridian/sandbox` in the README). */
  certificateDir: string;
  proxyAdmin: string;
  controllerMetrics: string;
  /** The single proxy's config file (for `meridian route --config`). */
  proxyConfig: string;
  /** The fleet's Redis, when the demo runs several proxies. */
  redis?: string;
  /** The seed's objects were created (not `--empty`). */
  seeded: boolean;
}

/** Clients around the world, by an address GeoIP places there, and the region that should serve them. */
export const WORLD_CLIENTS = [
  { city: 'Tokyo', ip: '133.11.0.1', region: 'asia-east1' },
  { city: 'London', ip: '81.2.69.160', region: 'europe-west1' },
  { city: 'New York', ip: '72.229.28.185', region: 'us-central1' },
  { city: 'São Paulo', ip: '177.71.128.1', region: 'us-central1' },
] as const;

/** The name the walkthrough's certificate is for, served over HTTPS once its Secret is in the federation. */
export const HTTPS_HOST = 'nginx.example.com';

/** A pod address inside gce-asia-east1-b (its pod range is 127.17.0.0/16), for the in-cluster client. */
export const IN_CLUSTER_CLIENT = '127.17.0.250';

/** `host:port` (host maybe `[v6]`) as [host as curl --resolve takes it, port]. */
function splitHostPort(hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), hostPort.slice(i + 1)];
}

export function walkthrough(o: WalkthroughOptions): string {
  const vip = o.vips[0]!;
  const fleet = o.vips.length > 1;
  const pad = (cmd: string, note: string) => (note ? `  ${cmd.padEnd(71)} # ${note}` : `  ${cmd}`);
  const curl = (args: string) => `curl ${args}http://${vip}/`;
  const [tlsHost, tlsPort] = splitHostPort(o.tlsVips[0]!);
  const cert = `${o.certificateDir}/nginx.pem`;
  const key = `${o.certificateDir}/nginx.key`;
  const curlHttps = (args: string) => `curl ${args}--cacert ${cert} --resolve ${HTTPS_HOST}:${tlsPort}:${tlsHost} https://${HTTPS_HOST}:${tlsPort}/`;
  const tlsSpec = JSON.stringify({ spec: { tls: [{ hosts: [HTTPS_HOST], secretName: 'nginx-tls' }] } });
  const lines = [
    '',
    `Meridian demo: a federation API and 9 member clusters in 3 regions, the federation controller,`,
    fleet
      ? `and ${o.vips.length} proxies sharing health and load through Redis (${o.redis}) on ${o.vips.join(', ')}.`
      : `and a proxy on the global VIP ${vip}, all on loopback.`,
    o.seeded ? `The seed's ConfigMap, Service, Ingress and ReplicaSet are created: the global site is up.` : `Nothing is created yet (--empty): create the seed's objects as the blog post does.`,
    '',
    `  export KUBECONFIG=${o.kubeconfig}`,
    '',
    o.seeded ? 'What the blog post created, seen with kubectl:' : 'The blog post, step by step:',
    pad('kubectl --context=federation-cluster get clusters', '9 clusters, Ready'),
    ...(o.seeded
      ? []
      : [
          '  kubectl --context=federation-cluster create -f examples/configmaps/zonefetch.yaml',
          '  kubectl --context=federation-cluster create -f examples/services/nginx.yaml',
          '  kubectl --context=federation-cluster create -f examples/ingress/ingress.yaml',
          '  kubectl --context=federation-cluster create -f examples/replicasets/nginx-rs.yaml',
        ]),
    pad('kubectl --context=federation-cluster get services,ingress,replicasets', 'one VIP, 9 replicas'),
    pad("for c in $(kubectl config view -o jsonpath='{.contexts[*].name}'); do", 'one replica in each'),
    '    kubectl --context=$c get rs; done',
    pad('kubectl --context=federation-cluster describe services nginx', "the 9 members' addresses"),
    '',
    'Clients around the world (the demo trusts X-Forwarded-For from loopback):',
    ...WORLD_CLIENTS.map((c) => pad(curl(`-H 'X-Forwarded-For: ${c.ip}' `), `${c.city}: served from ${c.region}`)),
    pad(curl(`--interface ${IN_CLUSTER_CLIENT} `), 'a pod in gce-asia-east1-b: its own cluster'),
    fleet
      ? pad(`node dist/cli/main.js route --redis ${o.redis} --fleet demo --client-ip 133.11.0.1`, 'why, as the fleet sees it')
      : pad(`node dist/cli/main.js route --config ${o.proxyConfig} --client-ip 133.11.0.1`, 'why'),
    ...(fleet ? [pad(`node dist/cli/main.js fleet --redis ${o.redis} --fleet demo`, 'the fleet: proxies, votes, load')] : []),
    '',
    "Take Asia down: Tokyo is served from the U.S. (the blog's failover); bring it back:",
    pad('node dist/cli/main.js sandbox fault --scope region pods-down asia-east1', ''),
    pad(curl(`-H 'X-Forwarded-For: 133.11.0.1' `), 'Tokyo: served from us-central1'),
    pad('node dist/cli/main.js sandbox fault --scope region pods-up asia-east1', ''),
    pad(curl(`-H 'X-Forwarded-For: 133.11.0.1' `), 'Tokyo: asia-east1 again within seconds'),
    '',
    `HTTPS on ${fleet ? o.tlsVips.join(', ') : o.tlsVips[0]} (HTTP/2 and HTTP/1.1): no certificate until an Ingress names a TLS Secret in the federation:`,
    `  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 30 -subj /CN=${HTTPS_HOST} \\`,
    `    -addext subjectAltName=DNS:${HTTPS_HOST} -keyout ${key} -out ${cert}`,
    `  kubectl --context=federation-cluster create secret tls nginx-tls --cert ${cert} --key ${key}`,
    `  kubectl --context=federation-cluster patch ingress nginx --type merge -p '${tlsSpec}'`,
    pad(curlHttps(''), 'served over HTTPS within seconds'),
    pad(curlHttps('-sI --http2 '), 'HTTP/2 200'),
    pad('kubectl --context=federation-cluster annotate ingress nginx meridian.dev/ssl-redirect=true', ''),
    pad(`curl -sI -H 'Host: ${HTTPS_HOST}' http://${vip}/`, `308, Location: https://${HTTPS_HOST}:${tlsPort}/`),
    pad('kubectl --context=federation-cluster annotate ingress nginx meridian.dev/ssl-redirect-', 'plain HTTP served again'),
    '',
    `Controller metrics: http://${o.controllerMetrics}/metrics   Proxy admin: http://${o.proxyAdmin}/debug/table`,
    `Status page: http://${o.proxyAdmin}/ui/   (what the world's traffic does, live)`,
    'Stop with Ctrl-C.',
    '',
  ];
  return lines.join('\n');
}

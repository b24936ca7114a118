import { MeridianError } from '../../common/errors.js';

/** One simulated member cluster: a single zone of a region, as in the seed's walkthrough. */
export interface MemberSpec {
  name: string;
  region: string;
  zone: string;
  /** Pod address range inside 127.0.0.0/8, e.g. `127.16.0.0/16`; every pod binds its own address. */
  podCIDR: string;
  /** Nodes in the cluster's zone. */
  nodes: number;
  /** Allocatable per node. */
  nodeCPUMillis: number;
  nodeMemoryMiB: number;
  nodeMaxPods: number;
}

export const SEED_CLUSTERS = [
  'gce-asia-east1-a',
  'gce-asia-east1-b',
  'gce-asia-east1-c',
  'gce-europe-west1-b',
  'gce-europe-west1-c',
  'gce-europe-west1-d',
  'gce-us-central1-a',
  'gce-us-central1-b',
  'gce-us-central1-c',
] as const;

const SEED_REGIONS = ['asia-east1', 'europe-west1', 'us-central1'] as const;
const ZONE_LETTERS = ['a', 'b', 'c', 'd', 'f'] as const;

/** Member pod CIDRs start at 127.16.0.0/16 so 127.0.0.0/12 stays free for the host's own servers. */
const FIRST_POD_OCTET = 16;
const MAX_MEMBERS = 255 - FIRST_POD_OCTET;

export interface NodeShape {
  nodes?: number;
  nodeCPUMillis?: number;
  nodeMemoryMiB?: number;
  nodeMaxPods?: number;
}

const DEFAULT_SHAPE: Required<NodeShape> = { nodes: 3, nodeCPUMillis: 2000, nodeMemoryMiB: 4096, nodeMaxPods: 110 };

const NAME_RE = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `gce-asia-east1-a` → region `asia-east1`, zone `asia-east1-a`: a known provider prefix is
 * dropped and the last dash-separated letter is the zone.
 */
export function regionAndZoneFromName(name: string): { region: string; zone: string } | undefined {
  const m = /^(?:(?:gce|gke|gcp|aws|eks|azure|aks)-)?([a-z]+(?:-[a-z]+)*\d+)-([a-z])$/.exec(name);
  if (!m) return undefined;
  return { region: m[1]!, zone: `${m[1]}-${m[2]}` };
}

/**
 * Parses the `--clusters` value:
 * - absent or `seed`: the seed's nine clusters;
 * - a number N: N clusters spread round-robin over the seed's three regions (for benchmarks);
 * - a comma list of `name` (region/zone derived from a `gce-<region>-<zone>` name) or
 *   `name=region/zone`.
 */
export function parseClusterSpec(spec: string | undefined, shape: NodeShape = {}): MemberSpec[] {
  const s = { ...DEFAULT_SHAPE, ...shape };
  const text = (spec ?? 'seed').trim();
  let entries: { name: string; region: string; zone: string }[];
  if (text === 'seed' || text === '') {
    entries = SEED_CLUSTERS.map((name) => ({ name, ...regionAndZoneFromName(name)! }));
  } else if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < 1 || n > MAX_MEMBERS) {
      throw new MeridianError('E_SANDBOX_CLUSTERS', `--clusters ${n}: between 1 and ${MAX_MEMBERS} clusters are supported`);
    }
    entries = Array.from({ length: n }, (_, i) => {
      const region = SEED_REGIONS[i % SEED_REGIONS.length]!;
      const ordinal = Math.floor(i / SEED_REGIONS.length);
      const zone = `${region}-${ZONE_LETTERS[ordinal % ZONE_LETTERS.length]}`;
      return { name: `gce-${region}-${String(ordinal + 1).padStart(3, '0')}`, region, zone };
    });
  } else {
    entries = text.split(',').map((raw) => {
      const item = raw.trim();
      const [name, where] = item.split('=', 2) as [string, string | undefined];
      if (where !== undefined) {
        const [region, zone] = where.split('/', 2);
        if (!region || !zone) {
          throw new MeridianError('E_SANDBOX_CLUSTERS', `cluster "${item}": expected name=region/zone`, 'example: edge-1=us-east1/us-east1-b');
        }
        return { name, region, zone };
      }
      const derived = regionAndZoneFromName(name);
      if (!derived) {
        throw new MeridianError(
          'E_SANDBOX_CLUSTERS',
          `cluster "${name}": cannot derive region and zone from the name`,
          'name it like gce-<region>-<zone letter>, or write name=region/zone',
        );
      }
      return { name, ...derived };
    });
  }
  const seen = new Set<string>();
  for (const e of entries) {
    if (!NAME_RE.test(e.name)) {
      throw new MeridianError('E_SANDBOX_CLUSTERS', `cluster name "${e.name}" is not a DNS-1035 label`, 'use lower-case letters, digits and dashes, starting with a letter');
    }
    if (seen.has(e.name)) throw new MeridianError('E_SANDBOX_CLUSTERS', `cluster "${e.name}" is listed twice`);
    seen.add(e.name);
  }
  if (entries.length > MAX_MEMBERS) {
    throw new MeridianError('E_SANDBOX_CLUSTERS', `${entries.length} clusters: at most ${MAX_MEMBERS} are supported`);
  }
  return entries.map((e, i) => ({
    ...e,
    podCIDR: `127.${FIRST_POD_OCTET + i}.0.0/16`,
    nodes: s.nodes,
    nodeCPUMillis: s.nodeCPUMillis,
    nodeMemoryMiB: s.nodeMemoryMiB,
    nodeMaxPods: s.nodeMaxPods,
  }));
}

/** The n-th pod address of a /16 pod CIDR (n ≥ 1), skipping .0 and .255 host parts. */
export function podAddress(podCIDR: string, n: number): string {
  const [a, b] = podCIDR.split('.');
  const third = Math.floor((n - 1) / 254);
  const fourth = ((n - 1) % 254) + 1;
  if (third > 255) throw new MeridianError('E_SANDBOX_POD_CIDR_FULL', `pod CIDR ${podCIDR} has no address left`);
  return `${a}.${b}.${third}.${fourth}`;
}

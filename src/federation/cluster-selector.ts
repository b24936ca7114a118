/**
 * Federation v1's `federation.alpha.kubernetes.io/cluster-selector` annotation: a JSON list of
 * `{key, operator, values}` requirements, all of which a Cluster's labels must meet.
 */
export interface SelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export type ParsedSelector = { ok: true; requirements: SelectorRequirement[] } | { ok: false; error: string };

const OPERATORS = new Set(['in', 'notin', '=', '==', '!=', 'exists', '!', 'doesnotexist', 'gt', 'lt']);

export function parseClusterSelector(value: string | undefined): ParsedSelector {
  if (value === undefined || value.trim() === '') return { ok: true, requirements: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(raw)) return { ok: false, error: 'must be a JSON list of {"key","operator","values"}' };
  const requirements: SelectorRequirement[] = [];
  for (const [i, r] of raw.entries()) {
    const req = r as Partial<SelectorRequirement>;
    if (typeof req?.key !== 'string' || !req.key) return { ok: false, error: `[${i}].key must be a non-empty string` };
    const op = String(req.operator ?? '').toLowerCase();
    if (!OPERATORS.has(op)) return { ok: false, error: `[${i}].operator "${req.operator}" is not one of in, notin, =, ==, !=, exists, !, gt, lt` };
    if (req.values !== undefined && (!Array.isArray(req.values) || req.values.some((v) => typeof v !== 'string'))) {
      return { ok: false, error: `[${i}].values must be a list of strings` };
    }
    requirements.push({ key: req.key, operator: op, values: req.values ?? [] });
  }
  return { ok: true, requirements };
}

export function clusterMatches(requirements: readonly SelectorRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    const values = r.values ?? [];
    switch (r.operator) {
      case 'in':
      case '=':
      case '==':
        return has && values.includes(v!);
      case 'notin':
      case '!=':
        return !has || !values.includes(v!);
      case 'exists':
        return has;
      case '!':
      case 'doesnotexist':
        return !has;
      case 'gt':
        return has && Number(v) > Number(values[0]);
      case 'lt':
        return has && Number(v) < Number(values[0]);
      default:
        return false;
    }
  });
}

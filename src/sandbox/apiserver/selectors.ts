import { badRequest } from './errors.js';
import type { KubeObject } from './store.js';

type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export type Matcher = (obj: KubeObject) => boolean;

/** Splits on commas that are not inside `in (a,b)` parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out.map((t) => t.trim()).filter(Boolean);
}

/** `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, comma = AND. */
export function parseLabelSelector(selector: string | null | undefined): Matcher {
  if (!selector) return () => true;
  const reqs: Requirement[] = splitTerms(selector).map((term) => {
    let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (m) return { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()).filter(Boolean) };
    m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(term);
    if (m) return { key: m[1]!, op: m[2] === '!=' ? 'neq' : 'eq', value: m[3]! };
    m = /^!\s*([^\s!=]+)$/.exec(term);
    if (m) return { key: m[1]!, op: 'notexists' };
    if (/^[A-Za-z0-9._/-]+$/.test(term)) return { key: term, op: 'exists' };
    throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
  });
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return reqs.every((r) => {
      const has = Object.prototype.hasOwnProperty.call(labels, r.key);
      const v = labels[r.key];
      switch (r.op) {
        case 'eq':
          return has && v === r.value;
        case 'neq':
          return !has || v !== r.value;
        case 'in':
          return has && r.values.includes(v!);
        case 'notin':
          return !has || !r.values.includes(v!);
        case 'exists':
          return has;
        case 'notexists':
          return !has;
      }
    });
  };
}

/** Field selectors each resource supports (beyond metadata.name and metadata.namespace). */
const FIELDS: Record<string, Record<string, (o: KubeObject) => unknown>> = {
  events: {
    'involvedObject.kind': (o) => (o.involvedObject as Record<string, unknown>)?.kind,
    'involvedObject.namespace': (o) => (o.involvedObject as Record<string, unknown>)?.namespace,
    'involvedObject.name': (o) => (o.involvedObject as Record<string, unknown>)?.name,
    'involvedObject.uid': (o) => (o.involvedObject as Record<string, unknown>)?.uid,
    'involvedObject.apiVersion': (o) => (o.involvedObject as Record<string, unknown>)?.apiVersion,
    'involvedObject.resourceVersion': (o) => (o.involvedObject as Record<string, unknown>)?.resourceVersion,
    'involvedObject.fieldPath': (o) => (o.involvedObject as Record<string, unknown>)?.fieldPath,
    reason: (o) => o.reason,
    type: (o) => o.type,
    source: (o) => (o.source as Record<string, unknown>)?.component,
    reportingComponent: (o) => o.reportingComponent,
  },
  pods: {
    'spec.nodeName': (o) => (o.spec as Record<string, unknown>)?.nodeName,
    'status.phase': (o) => (o.status as Record<string, unknown>)?.phase,
    'spec.restartPolicy': (o) => (o.spec as Record<string, unknown>)?.restartPolicy,
    'spec.schedulerName': (o) => (o.spec as Record<string, unknown>)?.schedulerName,
    'spec.serviceAccountName': (o) => (o.spec as Record<string, unknown>)?.serviceAccountName,
    'status.podIP': (o) => (o.status as Record<string, unknown>)?.podIP,
    'status.nominatedNodeName': (o) => (o.status as Record<string, unknown>)?.nominatedNodeName,
  },
  secrets: { type: (o) => o.type },
  namespaces: { 'status.phase': (o) => (o.status as Record<string, unknown>)?.phase },
  replicasets: { 'status.replicas': (o) => (o.status as Record<string, unknown>)?.replicas },
  nodes: { 'spec.unschedulable': (o) => (o.spec as Record<string, unknown>)?.unschedulable ?? false },
};

export function parseFieldSelector(selector: string | null | undefined, resource: string): Matcher {
  if (!selector) return () => true;
  const getters = { 'metadata.name': (o: KubeObject) => o.metadata.name, 'metadata.namespace': (o: KubeObject) => o.metadata.namespace, ...(FIELDS[resource] ?? {}) };
  const reqs = splitTerms(selector).map((term) => {
    const m = /^([^!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1]!.trim();
    const get = (getters as Record<string, (o: KubeObject) => unknown>)[field];
    if (!get) throw badRequest(`field label not supported: ${field}`);
    return { get, neg: m[2] === '!=', value: m[3]!.trim() };
  });
  return (obj) => reqs.every((r) => (String(r.get(obj) ?? '') === r.value) !== r.neg);
}

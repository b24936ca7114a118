import fastJsonPatch from 'fast-json-patch';
import { ApiError, badRequest } from './errors.js';
import type { KubeObject } from './store.js';

const { applyPatch } = fastJsonPatch;
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 6902 JSON patch. */
export function jsonPatch(target: KubeObject, ops: unknown): KubeObject {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  try {
    return applyPatch(structuredClone(target), ops as never, true, false).newDocument as KubeObject;
  } catch (err) {
    throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** RFC 7386 JSON merge patch: null deletes, lists replace. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

/** Strategic-merge keys: lists of objects merged element by element on these fields. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  tolerations: '',
};
/** Lists of primitives merged as sets. */
const SET_LISTS = new Set(['finalizers']);

/** The merge key of a list field, per parent: container `ports` by containerPort, Service `ports` by port. */
function mergeKeyFor(field: string, items: Json[]): string | undefined {
  if (field === 'ports') {
    const first = items.find(isObject);
    if (first && 'containerPort' in first) return 'containerPort';
    if (first && 'port' in first) return 'port';
    return undefined;
  }
  const k = MERGE_KEYS[field];
  return k ? k : undefined;
}

/**
 * Kubernetes strategic merge patch: maps merge, lists of objects merge by key, `$patch:
 * replace|delete`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`, `$retainKeys`.
 */
export function strategicMergePatch(target: Json, patch: Json, field = ''): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return rest;
  }
  if (patch.$patch === 'delete') return null;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  const retain = Array.isArray(patch.$retainKeys) ? new Set(patch.$retainKeys as string[]) : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const list = k.slice('$deleteFromPrimitiveList/'.length);
      const drop = new Set((v as Json[]).map((x) => JSON.stringify(x)));
      out[list] = ((out[list] as Json[] | undefined) ?? []).filter((x) => !drop.has(JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const current = out[k];
    if (Array.isArray(v)) {
      const key = mergeKeyFor(k, [...v, ...(Array.isArray(current) ? current : [])]);
      if (key && Array.isArray(current)) out[k] = mergeList(current, v, key, patch[`$setElementOrder/${k}`]);
      else if (SET_LISTS.has(k) && Array.isArray(current)) out[k] = [...new Set([...current, ...v].map((x) => JSON.stringify(x)))].map((x) => JSON.parse(x) as Json);
      else out[k] = v.filter((x) => !(isObject(x) && x.$patch === 'delete'));
    } else if (isObject(v)) out[k] = strategicMergePatch(current ?? null, v, k);
    else out[k] = v;
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.has(k)) delete out[k];
  void field;
  return out;
}

function mergeList(current: Json[], patch: Json[], key: string, order: Json | undefined): Json[] {
  const result = [...current];
  for (const item of patch) {
    if (!isObject(item)) continue;
    const i = result.findIndex((c) => isObject(c) && c[key] === item[key]);
    if (item.$patch === 'delete') {
      if (i >= 0) result.splice(i, 1);
    } else if (i >= 0) result[i] = strategicMergePatch(result[i]!, item);
    else result.push(strategicMergePatch(null, item));
  }
  if (Array.isArray(order)) {
    const rank = new Map(order.filter(isObject).map((o, idx) => [JSON.stringify(o[key]), idx]));
    result.sort((a, b) => (rank.get(JSON.stringify((a as JsonObject)[key])) ?? 1e9) - (rank.get(JSON.stringify((b as JsonObject)[key])) ?? 1e9));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Server-side apply: field ownership per manager, recorded in metadata.managedFields (FieldsV1).

/** A field path: `f:spec`, `f:replicas`, or `k:{"name":"nginx"}` for a keyed list element. */
export type FieldPath = string[];

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: JsonObject;
  subresource?: string;
}

const IGNORED_TOP = new Set(['apiVersion', 'kind', 'status']);
const IGNORED_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink', 'generateName']);

/** Every leaf field an object sets, as SSA counts ownership. */
export function leafPaths(obj: Json, prefix: FieldPath = [], parentField = ''): FieldPath[] {
  const out: FieldPath[] = [];
  if (Array.isArray(obj)) {
    const key = mergeKeyFor(parentField, obj);
    if (key && obj.every((x) => isObject(x) && x[key] !== undefined)) {
      for (const item of obj as JsonObject[]) {
        const seg = `k:${JSON.stringify({ [key]: item[key] })}`;
        const inner = leafPaths(item, [...prefix, seg]);
        out.push(...(inner.length ? inner : [[...prefix, seg]]));
      }
      return out;
    }
    return [prefix]; // atomic list
  }
  if (isObject(obj)) {
    const entries = Object.entries(obj).filter(([k]) => {
      if (prefix.length === 0) return !IGNORED_TOP.has(k);
      if (prefix.length === 1 && prefix[0] === 'f:metadata') return !IGNORED_META.has(k);
      return true;
    });
    // A genuinely empty object is a leaf; one whose keys are all server-owned contributes nothing.
    if (entries.length === 0) return prefix.length && Object.keys(obj).length === 0 ? [prefix] : [];
    for (const [k, v] of entries) out.push(...leafPaths(v, [...prefix, `f:${k}`], k));
    return out;
  }
  return [prefix];
}

export function valueAt(obj: Json, path: FieldPath): Json | undefined {
  let cur: Json | undefined = obj;
  for (const seg of path) {
    if (cur === undefined || cur === null) return undefined;
    if (seg.startsWith('k:')) {
      const sel = JSON.parse(seg.slice(2)) as JsonObject;
      const [[k, v]] = Object.entries(sel) as [[string, Json]];
      cur = Array.isArray(cur) ? cur.find((x) => isObject(x) && x[k] === v) : undefined;
    } else cur = isObject(cur) ? cur[seg.slice(2)] : undefined;
  }
  return cur;
}

function removeAt(obj: JsonObject, path: FieldPath): void {
  let cur: Json | undefined = obj;
  for (let i = 0; i < path.length - 1; i++) cur = valueAt(cur as Json, [path[i]!]);
  const last = path[path.length - 1]!;
  if (last.startsWith('k:') && Array.isArray(cur)) {
    const [[k, v]] = Object.entries(JSON.parse(last.slice(2)) as JsonObject) as [[string, Json]];
    const i = cur.findIndex((x) => isObject(x) && x[k] === v);
    if (i >= 0) cur.splice(i, 1);
  } else if (isObject(cur)) delete cur[last.slice(2)];
}

export function pathsToFieldsV1(paths: FieldPath[]): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p) cur = (cur[seg] ??= {}) as JsonObject;
  }
  return root;
}

export function fieldsV1ToPaths(f: Json, prefix: FieldPath = []): FieldPath[] {
  if (!isObject(f)) return [];
  const keys = Object.keys(f).filter((k) => k !== '.');
  if (keys.length === 0) return prefix.length ? [prefix] : [];
  return keys.flatMap((k) => fieldsV1ToPaths(f[k]!, [...prefix, k]));
}

const pathKey = (p: FieldPath) => p.join('\u0000');
const overlaps = (a: FieldPath, b: FieldPath) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
};

export interface ApplyResult {
  object: KubeObject;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `config` by `manager` onto `current` (undefined = create). Fields this
 * manager applied before and omits now are removed unless another manager also owns them;
 * changing a field another manager owns is a 409 conflict unless `force`.
 */
export function serverSideApply(
  current: KubeObject | undefined,
  config: KubeObject,
  manager: string,
  force: boolean,
  now: string,
): ApplyResult {
  const entries = ((current?.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? []).map((e) => ({ ...e }));
  const applied = leafPaths(config as unknown as Json);
  const base = (current ? structuredClone(current) : { apiVersion: config.apiVersion, kind: config.kind, metadata: {} }) as unknown as JsonObject;

  const conflicts: { manager: string; apiVersion: string; path: FieldPath }[] = [];
  for (const e of entries) {
    if (e.manager === manager && e.operation === 'Apply') continue;
    for (const owned of fieldsV1ToPaths(e.fieldsV1)) {
      for (const p of applied) {
        if (!overlaps(owned, p)) continue;
        if (JSON.stringify(valueAt(base, p)) !== JSON.stringify(valueAt(config as unknown as Json, p))) conflicts.push({ manager: e.manager, apiVersion: e.apiVersion, path: p });
      }
    }
  }
  if (conflicts.length && !force) {
    const fmt = (p: FieldPath) => p.map((s) => (s.startsWith('f:') ? `.${s.slice(2)}` : `[${s.slice(2).replace(/^\{|\}$/g, '').replace(/"/g, '')}]`)).join('');
    const unique = [...new Map(conflicts.map((c) => [`${c.manager}${pathKey(c.path)}`, c])).values()];
    throw new ApiError(
      409,
      'Conflict',
      `Apply failed with ${unique.length} conflict${unique.length > 1 ? 's' : ''}: ${unique.map((c) => `conflict with "${c.manager}" using ${c.apiVersion}: ${fmt(c.path)}`).join('\n')}`,
      { causes: unique.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${c.apiVersion}`, field: fmt(c.path) })) },
    );
  }

  const merged = strategicMergePatch(base, config as unknown as Json) as JsonObject;
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply');
  const previously = mine ? fieldsV1ToPaths(mine.fieldsV1) : [];
  const appliedKeys = new Set(applied.map(pathKey));
  for (const p of previously) {
    if (appliedKeys.has(pathKey(p))) continue;
    const ownedElsewhere = entries.some((e) => e !== mine && fieldsV1ToPaths(e.fieldsV1).some((o) => pathKey(o) === pathKey(p)));
    if (!ownedElsewhere) removeAt(merged, p);
  }

  const next: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    if (e === mine) continue;
    let owned = fieldsV1ToPaths(e.fieldsV1);
    if (force) owned = owned.filter((o) => !applied.some((p) => overlaps(o, p)));
    if (owned.length) next.push({ ...e, fieldsV1: pathsToFieldsV1(owned) });
  }
  next.push({ manager, operation: 'Apply', apiVersion: config.apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: pathsToFieldsV1(applied) });
  return { object: merged as unknown as KubeObject, managedFields: next };
}

/**
 * Ownership after an ordinary write (create, update, patch): `manager` takes the fields whose
 * value it changed; other managers lose them.
 */
export function recordUpdate(previous: KubeObject | undefined, next: KubeObject, manager: string, now: string, subresource?: string): ManagedFieldsEntry[] {
  const entries = ((previous?.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? []).map((e) => ({ ...e }));
  const differs = (p: FieldPath) => JSON.stringify(valueAt(previous as unknown as Json, p)) !== JSON.stringify(valueAt(next as unknown as Json, p));
  const candidates = subresource === 'status' ? leafPaths((next.status ?? {}) as Json, ['f:status']) : leafPaths(next as unknown as Json);
  const changed = previous ? candidates.filter(differs) : candidates;
  if (changed.length === 0) return entries;
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const e of entries) {
    if (e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? '')) {
      mine = e;
      continue;
    }
    const owned = fieldsV1ToPaths(e.fieldsV1).filter((o) => !changed.some((p) => pathKey(p) === pathKey(o)));
    if (owned.length) out.push({ ...e, fieldsV1: pathsToFieldsV1(owned) });
  }
  const mineOwned = [...(mine ? fieldsV1ToPaths(mine.fieldsV1) : []), ...changed].filter((p) => valueAt(next as unknown as Json, p) !== undefined);
  const unique = [...new Map(mineOwned.map((p) => [pathKey(p), p])).values()];
  if (unique.length) {
    out.push({ manager, operation: 'Update', apiVersion: next.apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: pathsToFieldsV1(unique), ...(subresource ? { subresource } : {}) });
  }
  return out;
}

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * Just enough PromQL reading to check expressions against a real Prometheus: which metric names
 * an expression selects, and the expression with its threshold comparisons removed (an alert
 * that is rightly empty while all is well must still select data without its threshold).
 */

const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** The expression with string literals, label matchers ({…}) and ranges ([…]) blanked out (same length). */
function mask(expr: string): string {
  let out = '';
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      out += ' '.repeat(Math.min(j + 1, expr.length) - i);
      i = j + 1;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      let j = i + 1;
      while (j < expr.length && expr[j] !== close) {
        if (expr[j] === '"' || expr[j] === "'") {
          const q = expr[j];
          j++;
          while (j < expr.length && expr[j] !== q) j += expr[j] === '\\' ? 2 : 1;
        }
        j++;
      }
      out += c + ' '.repeat(Math.max(0, Math.min(j, expr.length) - i - 1)) + (j < expr.length ? close : '');
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Every metric name the expression selects (functions, aggregations, keywords and label lists apart). */
export function metricNames(expr: string): string[] {
  const m = mask(expr);
  const names = new Set<string>();
  let i = 0;
  while (i < m.length) {
    const c = m[i]!;
    if (/[0-9.]/.test(c)) {
      // A number or a duration (5m, 1e3): not a name.
      while (i < m.length && /[0-9a-zA-Z.+_]/.test(m[i]!) && !(m[i] === '+' && !/[eE]/.test(m[i - 1]!))) i++;
      continue;
    }
    if (!/[a-zA-Z_:]/.test(c)) {
      i++;
      continue;
    }
    let j = i;
    while (j < m.length && /[a-zA-Z0-9_:]/.test(m[j]!)) j++;
    const word = m.slice(i, j);
    let k = j;
    while (k < m.length && /\s/.test(m[k]!)) k++;
    if (LABEL_LISTS.has(word) && m[k] === '(') {
      // by (a, b): a list of labels, not names
      const close = m.indexOf(')', k);
      i = close < 0 ? m.length : close + 1;
      continue;
    }
    if (!KEYWORDS.has(word) && !AGGREGATIONS.has(word) && m[k] !== '(') names.add(word);
    i = j;
  }
  return [...names];
}

/** The expression without its comparisons against a number (`> 0.05`, `== 0`, `!= bool 1`). */
export function withoutThresholds(expr: string): string {
  const m = mask(expr);
  const re = /(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?/g;
  let out = '';
  let last = 0;
  for (const hit of m.matchAll(re)) {
    out += expr.slice(last, hit.index);
    last = hit.index! + hit[0].length;
  }
  return (out + expr.slice(last)).replace(/\s+/g, ' ').trim();
}

export interface NamedExpr {
  where: string;
  expr: string;
}

/** Every alert and recording rule's expression in a Prometheus rules file. */
export function ruleExprs(path: string): (NamedExpr & { alert?: string })[] {
  const doc = parse(readFileSync(path, 'utf8')) as { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `${g.name}/${r.alert ?? r.record}`, expr: r.expr, ...(r.alert ? { alert: r.alert } : {}) })));
}

interface GrafanaPanel {
  title?: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string; datasource?: { type?: string; uid?: string } }[];
  panels?: GrafanaPanel[];
}

export interface GrafanaDashboard {
  panels: GrafanaPanel[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string; datasource?: { uid?: string } }[] };
  [k: string]: unknown;
}

/** Every panel of a dashboard, rows' nested panels included. */
export function allPanels(d: GrafanaDashboard): GrafanaPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/**
 * Every query of the dashboard as PromQL Prometheus can run: the panels' targets with Grafana's
 * variables given values (`vars`), and each `label_values(metric, label)` variable as
 * `group by (label) (metric)`.
 */
export function dashboardExprs(d: GrafanaDashboard, vars: Record<string, string>): NamedExpr[] {
  const substitute = (e: string) => e.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => vars[name] ?? whole);
  const out: NamedExpr[] = [];
  for (const p of allPanels(d)) for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: substitute(t.expr) });
  for (const v of d.templating.list) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const lv = q && /^label_values\(\s*(.+),\s*(\w+)\s*\)$/.exec(q);
    if (lv) out.push({ where: `variable $${v.name}`, expr: `group by (${lv[2]}) (${lv[1]})` });
  }
  return out;
}

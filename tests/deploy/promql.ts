import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CHART } from './lib.js';

/** One label matcher of a selector, its value unescaped as PromQL reads it. */
export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** A metric selector: `name{matchers}`. */
export interface Selector {
  metric: string;
  matchers: Matcher[];
}

/** What an expression reads: its selectors, and the labels it groups or matches by. */
export interface ExpressionUse {
  expr: string;
  selectors: Selector[];
  groupingLabels: string[];
}

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

function unescapePromql(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

function matchersOf(braces: string): Matcher[] {
  const out: Matcher[] = [];
  for (const m of braces.matchAll(
    /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g,
  )) {
    out.push({
      label: m[1] as string,
      op: m[2] as Matcher['op'],
      value: unescapePromql(m[3] as string),
    });
  }
  return out;
}

/**
 * The selectors and grouping labels of a PromQL expression (the subset of PromQL the alerts and
 * the dashboard use: selectors, functions, aggregations with by/without, binary operators,
 * on/ignoring). Range durations and Grafana's variables are neutralised first
 * (`$__rate_interval` → 5m, `$var` → `.*`).
 */
export function parsePromql(source: string): ExpressionUse {
  const expr = source
    .replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '.*');
  const text = expr.replace(/\[[^\]]*\]/g, '');
  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  const token = /([A-Za-z_:][A-Za-z0-9_:]*)|(\{)|("(?:[^"\\]|\\.)*")|([0-9][0-9.eE+-]*)/g;
  let m: RegExpExecArray | null = token.exec(text);
  while (m !== null) {
    const [whole, name, brace] = m;
    const end = m.index + whole.length;
    const rest = text.slice(end);
    if (name && GROUPING.has(name)) {
      const list = /^\s*\(([^)]*)\)/.exec(rest);
      if (list) {
        groupingLabels.push(
          ...(list[1] as string)
            .split(',')
            .map((l) => l.trim())
            .filter(Boolean),
        );
        token.lastIndex = end + list[0].length;
      }
    } else if (
      name &&
      !KEYWORDS.has(name.toLowerCase()) &&
      // Not a function or aggregation: `rate(`, `sum(`, `sum by (`.
      !/^\s*\(/.test(rest) &&
      !/^\s*(by|without)\s*\(/.test(rest)
    ) {
      const braces = /^\s*\{([^}]*)\}/.exec(rest);
      selectors.push({ metric: name, matchers: braces ? matchersOf(braces[1] as string) : [] });
      if (braces) token.lastIndex = end + braces[0].length;
    } else if (brace) {
      // A selector without a metric name ({__name__="…"}): not used here.
      throw new Error(`selector without a metric name in: ${source}`);
    }
    m = token.exec(text);
  }
  return { expr: source, selectors, groupingLabels: [...new Set(groupingLabels)] };
}

/** Whether a matcher accepts a series that lacks its label (the empty value). */
export function matchesEmpty(m: Matcher): boolean {
  if (m.op === '=') return m.value === '';
  if (m.op === '!=') return m.value !== '';
  const re = new RegExp(`^(?:${m.value})$`);
  return m.op === '=~' ? re.test('') : !re.test('');
}

export interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[];
}

export const ALERTS_FILE = join(CHART, 'files', 'alerts.yaml');
export const DASHBOARD_FILE = join(CHART, 'files', 'dashboard.json');

export function readRules(): RuleFile {
  return parseYaml(readFileSync(ALERTS_FILE, 'utf8')) as RuleFile;
}

interface DashboardPanel {
  targets?: { expr?: string }[];
  panels?: DashboardPanel[];
}
export interface Dashboard {
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query?: { query?: string } | string }[] };
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every PromQL expression of the dashboard (panels, rows' panels, query variables). */
export function dashboardExpressions(dashboard: Dashboard): string[] {
  const out: string[] = [];
  const walk = (panels: DashboardPanel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    // label_values(metric, label): the metric must carry the label.
    const lv = q ? /^label_values\(\s*([^,]+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(q) : null;
    if (lv) out.push(`group by (${lv[2]}) (${lv[1]})`);
    else if (q) out.push(q);
  }
  return out;
}

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensurePrometheus, ROOT } from '../../scripts/lib/tools.js';
import {
  CHART,
  ensureDeployTools,
  type K8sObject,
  ofKind,
  renderChart,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';
import {
  ALERTS_FILE,
  dashboardExpressions,
  matchesEmpty,
  parsePromql,
  readDashboard,
  readRules,
} from './promql.js';

const execFileAsync = promisify(execFile);
const PROMTOOL_TESTS = [
  join(ROOT, 'tests', 'deploy', 'promtool', 'alerts-test.yaml'),
  join(ROOT, 'tests', 'deploy', 'promtool', 'alerts-slow-test.yaml'),
];
const PROMETHEUS_RULE_API = 'monitoring.coreos.com/v1/PrometheusRule';

let promtool: string;
beforeAll(async () => {
  // helm too: on a fresh machine it is built here, not inside a 30 s test.
  [{ promtool }] = await Promise.all([ensurePrometheus(), ensureDeployTools()]);
}, TOOL_INSTALL_TIMEOUT_MS);

async function run(args: string[]): Promise<{ code: number; output: string }> {
  return execFileAsync(promtool, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? 1,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );
}

interface PromtoolTests {
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const alertNames = () =>
  readRules()
    .groups.flatMap((g) => g.rules)
    .flatMap((r) => (r.alert ? [r.alert] : []));

describe('alert rules (deploy/helm/journal/files/alerts.yaml)', () => {
  it('pass promtool check rules', async () => {
    const result = await run(['check', 'rules', ALERTS_FILE]);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.code).toBe(0);
  });

  it('pass their promtool unit tests', { timeout: 60_000 }, async () => {
    const result = await run(['test', 'rules', ...PROMTOOL_TESTS]);
    expect(result.output).not.toMatch(/FAILED/);
    expect(result.code).toBe(0);
  });

  it('every alert has a promtool case where it fires and one where it must stay quiet', () => {
    expect(alertNames().sort()).toEqual([
      'JournalAccountDeletionStuck',
      'JournalAvailabilityBudgetBurnCritical',
      'JournalAvailabilityBudgetBurnWarning',
      'JournalDependencyDown',
      'JournalLatencyBudgetBurnCritical',
      'JournalLatencyBudgetBurnWarning',
      'JournalLongPollsNearLimit',
      'JournalOutsideDependencyFailing',
      'JournalRefreshTokenReuseSpike',
    ]);
    const cases = PROMTOOL_TESTS.flatMap(
      (f) => (parseYaml(readFileSync(f, 'utf8')) as PromtoolTests).tests,
    ).flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of alertNames()) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} fires somewhere`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} stays quiet somewhere`,
      ).toBe(true);
    }
  });

  it('the unit tests fail when a threshold or an exclusion in the rules changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'journal-alerts-'));
    const rules = readFileSync(ALERTS_FILE, 'utf8');
    const mutants = {
      'deletion threshold': rules.replace('> 3600', '> 36000'),
      'dependency failures window': rules.replace(
        'increase(dependency_failures_total{job=~".*"}[10m])) > 0',
        'increase(dependency_failures_total{job=~".*"}[10m])) > 100',
      ),
      'probes counted': rules.replaceAll('route!~"/health|/ready|/metrics"', 'route!~"/none"'),
    };
    for (const [name, text] of Object.entries(mutants)) {
      expect(text, name).not.toBe(rules);
      const ruleFile = join(dir, `${name.replaceAll(' ', '-')}.yaml`);
      await writeFile(ruleFile, text);
      const testFile = join(dir, `${name.replaceAll(' ', '-')}-test.yaml`);
      const tests = readFileSync(PROMTOOL_TESTS[0] as string, 'utf8').replace(
        '../../../deploy/helm/journal/files/alerts.yaml',
        ruleFile,
      );
      await writeFile(testFile, tests);
      const result = await run(['test', 'rules', testFile]);
      expect(result.code, name).not.toBe(0);
      expect(result.output, name).toMatch(/FAILED/);
    }
  });
});

describe('PromQL reading of the rules and the dashboard', () => {
  it('finds selectors, matchers and grouping labels, not functions or aggregations', () => {
    const use = parsePromql(
      'sum by (service, le) (rate(http_request_duration_seconds_bucket{route!~"/health",le=~"1|1\\\\.0"}[5m])) / on (service) group_left sum without (instance) (up{job="x"}) > bool 0.5',
    );
    expect(use.selectors).toEqual([
      {
        metric: 'http_request_duration_seconds_bucket',
        matchers: [
          { label: 'route', op: '!~', value: '/health' },
          { label: 'le', op: '=~', value: '1|1\\.0' },
        ],
      },
      { metric: 'up', matchers: [{ label: 'job', op: '=', value: 'x' }] },
    ]);
    expect(use.groupingLabels).toEqual(['service', 'le', 'instance']);
    expect(parsePromql('sum(rate(a_total{x=~"$service"}[$__rate_interval]))').selectors).toEqual([
      { metric: 'a_total', matchers: [{ label: 'x', op: '=~', value: '.*' }] },
    ]);
    expect(matchesEmpty({ label: 'job', op: '=~', value: '.*' })).toBe(true);
    expect(matchesEmpty({ label: 'le', op: '=~', value: '1|1\\.0' })).toBe(false);
    expect(matchesEmpty({ label: 'route', op: '!~', value: '/health' })).toBe(true);
  });

  it('the dashboard is well-formed: unique panel ids, every query on the data-source variable', () => {
    const dashboard = readDashboard() as unknown as {
      uid: string;
      panels: {
        id: number;
        type: string;
        datasource?: { uid: string };
        gridPos: { w: number; h: number; x: number; y: number };
        targets?: { refId: string; expr: string; datasource: { uid: string } }[];
      }[];
      templating: { list: { name: string; type: string }[] };
    };
    // Grafana's variable syntax, not a template literal.
    const DATASOURCE = ['$', '{datasource}'].join('');
    expect(dashboard.uid).toBe('journal-overview');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, `panel ${panel.id}`).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      expect(panel.datasource?.uid, `panel ${panel.id}`).toBe(DATASOURCE);
      expect(panel.targets?.length, `panel ${panel.id}`).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, `panel ${panel.id}`).toBe(refIds.length);
      for (const t of panel.targets ?? []) expect(t.datasource.uid).toBe(DATASOURCE);
    }
  });

  it('reads every dashboard query, the service variable included', () => {
    const exprs = dashboardExpressions(readDashboard());
    expect(exprs.length).toBeGreaterThan(30);
    expect(exprs).toContain('group by (service) (http_request_duration_seconds_count)');
  });
});

describe('chart: PrometheusRule and dashboard ConfigMap', () => {
  const render = (set: string[] = [], apiVersions = true) =>
    renderChart({
      valuesFiles: [join(CHART, 'ci', 'default-values.yaml')],
      set,
      ...(apiVersions ? { apiVersions: [PROMETHEUS_RULE_API] } : {}),
    });

  it('renders the rules of files/alerts.yaml, scoped to the release, where the CRD exists', async () => {
    const { objects } = await render([
      'prometheusRule.runbookBaseUrl=https://example.com/docs/operations.md',
      'prometheusRule.additionalAlertLabels.team=platform',
      'prometheusRule.labels.release=kube-prometheus-stack',
    ]);
    const [rule] = ofKind(objects, 'PrometheusRule');
    expect(rule?.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule?.metadata.labels?.release).toBe('kube-prometheus-stack');
    const source = readRules();
    const groups = (rule as K8sObject).spec.groups as typeof source.groups;
    expect(groups.map((g) => g.name)).toEqual(source.groups.map((g) => g.name));
    const scope = 'namespace="journal",job=~"journal-(gateway|auth|sync|attachments)"';
    for (const [gi, group] of groups.entries()) {
      for (const [ri, r] of group.rules.entries()) {
        const original = source.groups[gi]?.rules[ri] as (typeof group.rules)[number] & {
          labels?: Record<string, string>;
          annotations?: Record<string, string>;
        };
        const rendered = r as typeof original;
        expect(rendered.record ?? rendered.alert).toBe(original.record ?? original.alert);
        expect(rendered.expr).toBe(
          original.expr
            .replaceAll('job=~".*"', scope)
            .replaceAll('namespace=~".*"', 'namespace="journal"'),
        );
        // Every selector is scoped: no rule reads another release's or application's series.
        for (const s of parsePromql(rendered.expr).selectors) {
          expect(s.matchers, `${s.metric} in ${rendered.alert ?? rendered.record}`).toContainEqual({
            label: 'namespace',
            op: '=',
            value: 'journal',
          });
        }
        if (original.alert) {
          expect(rendered.labels).toEqual({ ...original.labels, team: 'platform' });
          expect(rendered.annotations).toEqual({
            ...original.annotations,
            runbook_url: `https://example.com/docs/operations.md#${original.alert.toLowerCase()}`,
          });
        }
      }
    }
  });

  it('the rendered, scoped rules are valid rules for promtool', async () => {
    const { objects } = await render(['prometheusRule.runbookBaseUrl=https://example.com/ops']);
    const [rule] = ofKind(objects, 'PrometheusRule');
    const dir = await mkdtemp(join(tmpdir(), 'journal-rendered-rules-'));
    const file = join(dir, 'rules.yaml');
    // JSON is YAML.
    await writeFile(file, JSON.stringify({ groups: (rule as K8sObject).spec.groups }));
    const result = await run(['check', 'rules', file]);
    expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.code).toBe(0);
  });

  it('leaves the PrometheusRule out without the CRD, or when disabled', async () => {
    expect(ofKind((await render([], false)).objects, 'PrometheusRule')).toEqual([]);
    expect(
      ofKind((await render(['prometheusRule.enabled=false'])).objects, 'PrometheusRule'),
    ).toEqual([]);
    const plain = ofKind((await render()).objects, 'PrometheusRule')[0] as K8sObject;
    const alert = (plain.spec.groups as { rules: Record<string, unknown>[] }[])
      .flatMap((g) => g.rules)
      .find((r) => r.alert === 'JournalDependencyDown') as { annotations: object; labels: object };
    expect(alert.annotations).not.toHaveProperty('runbook_url');
    expect(alert.labels).toEqual({ severity: 'critical' });
  });

  it("puts files/dashboard.json in a ConfigMap with the Grafana sidecar's label", async () => {
    const dashboards = (objects: K8sObject[]) =>
      ofKind(objects, 'ConfigMap').filter((c) => c.metadata.name.endsWith('-dashboard'));
    const [cm] = dashboards((await render([], false)).objects);
    expect(cm?.metadata.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(cm?.data['journal.json'])).toEqual(readDashboard());
    const custom = dashboards(
      (
        await render(
          [
            'dashboard.labels.grafana_dashboard=null',
            'dashboard.labels.my-dashboards=yes',
            'dashboard.annotations.grafana_folder=Journal',
            'dashboard.namespace=monitoring',
          ],
          false,
        )
      ).objects,
    )[0];
    expect(custom?.metadata.labels).not.toHaveProperty('grafana_dashboard');
    expect(custom?.metadata.labels?.['my-dashboards']).toBe('yes');
    expect(custom?.metadata.annotations?.grafana_folder).toBe('Journal');
    expect(custom?.metadata.namespace).toBe('monitoring');
    expect(dashboards((await render(['dashboard.enabled=false'], false)).objects)).toEqual([]);
  });
});

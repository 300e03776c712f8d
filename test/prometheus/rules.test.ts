/**
 * The alert rules: promtool accepts them and their unit tests pass, every
 * alert carries what an on-call person needs (severity, a `for:`, a summary
 * naming the cluster and member, a runbook section that exists), and every
 * alert has a test where it fires and one, past its `for:`, where it must not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { type AlertRule, promtool, RULES_FILE, readAlertRules } from '../support/prometheus.ts';

const RULE_TESTS_FILE = new URL('./etcd-monitor.rules.test.yaml', import.meta.url).pathname;
const RUNBOOKS = new URL('../../docs/runbooks.md', import.meta.url).pathname;

test('promtool check rules accepts the rule file', async () => {
  const r = await promtool(['check', 'rules', RULES_FILE]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: every case passes', async () => {
  const r = await promtool(['test', 'rules', RULE_TESTS_FILE]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** Runbook sections by anchor, with their text. */
async function runbookSections(): Promise<Map<string, string>> {
  const text = await readFile(RUNBOOKS, 'utf8');
  const sections = new Map<string, string>();
  const parts = text.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    sections.set(anchor(part.slice(0, newline)), part.slice(newline + 1));
  }
  return sections;
}

function durationSeconds(value: string): number {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  const re = /(\d+)([smhd])/g;
  let consumed = '';
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0];
  }
  assert.equal(consumed, value, `duration ${value} is not in the form 1h2m3s`);
  return total;
}

test('every alert has a severity, a for:, a summary naming where, and a runbook section', async () => {
  const rules = await readAlertRules();
  const sections = await runbookSections();
  assert.ok(rules.length >= 13, `only ${rules.length} alerts`);
  const names = new Set<string>();
  for (const rule of rules) {
    const where = `alert ${rule.alert}`;
    assert.ok(!names.has(rule.alert), `${where} is defined twice`);
    names.add(rule.alert);
    assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${where}: severity`);
    assert.ok(['etcd', 'etcd-monitor'].includes(rule.labels?.component ?? ''), `${where}: component`);
    assert.ok(rule.for !== undefined && durationSeconds(rule.for) >= 60, `${where}: for: of at least 1m`);
    const summary = rule.annotations?.summary ?? '';
    const description = rule.annotations?.description ?? '';
    assert.ok(description.length > 40, `${where}: a description`);
    // The process's own alerts are about an instance, not a cluster.
    if (rule.alert === 'EtcdMonitorDown' || rule.alert === 'EtcdMonitorSaturated') {
      assert.match(summary, /\$labels\.instance/, `${where}: summary names the instance`);
    } else {
      assert.match(summary, /\$labels\.clusterName/, `${where}: summary names the cluster`);
      assert.match(summary, /\$labels\.namespace/, `${where}: summary names the namespace when there is one`);
    }
    const url = rule.annotations?.runbook_url ?? '';
    assert.equal(url, `docs/runbooks.md#${rule.alert.toLowerCase()}`, `${where}: runbook_url`);
    const section = sections.get(rule.alert.toLowerCase());
    assert.ok(section !== undefined, `${where}: docs/runbooks.md has no section ## ${rule.alert}`);
    for (const part of ['**Meaning.**', '**Confirm.**', '**Fix.**'])
      assert.ok(section.includes(part), `${where}: runbook section lacks ${part}`);
  }
  // Each runbook section belongs to an alert that exists.
  for (const key of sections.keys())
    assert.ok(
      [...names].some((n) => n.toLowerCase() === key),
      `runbook section ${key} has no alert`,
    );
});

interface RuleTestCase {
  name: string;
  alert_rule_test?: {
    eval_time: string;
    alertname: string;
    exp_alerts?: { exp_labels: Record<string, string>; exp_annotations: Record<string, string> }[];
  }[];
}

test('every alert has a case where it fires, naming where, and a case past its for: where it must not', async () => {
  const rules = await readAlertRules();
  const file = parse(await readFile(RULE_TESTS_FILE, 'utf8')) as { tests: RuleTestCase[] };
  const fires = new Set<string>();
  const silentPastFor = new Set<string>();
  const forOf = new Map<string, number>(
    rules.map((r: AlertRule) => [r.alert, durationSeconds(r.for ?? '0s')]),
  );
  for (const testCase of file.tests) {
    for (const check of testCase.alert_rule_test ?? []) {
      assert.ok(forOf.has(check.alertname), `${testCase.name}: unknown alert ${check.alertname}`);
      for (const expected of check.exp_alerts ?? []) {
        // The rendered summary says where: cluster (with its namespace), and the member when the alert has one.
        const { clusterName, namespace, endpoint, instance } = expected.exp_labels;
        const summary = expected.exp_annotations.summary ?? '';
        const where = `${testCase.name}: ${check.alertname} summary "${summary}"`;
        if (instance !== undefined) assert.ok(summary.includes(instance), `${where} names the instance`);
        else {
          assert.ok(clusterName !== undefined && summary.includes(clusterName), `${where} names the cluster`);
          if (namespace !== undefined)
            assert.ok(summary.includes(`${namespace}/${clusterName}`), `${where} names the namespace`);
        }
        if (endpoint !== undefined)
          assert.ok(
            summary.includes(endpoint === 'cluster' ? 'cluster-wide' : endpoint),
            `${where} names the member`,
          );
        fires.add(check.alertname);
      }
      if ((check.exp_alerts ?? []).length > 0) continue;
      if (durationSeconds(check.eval_time) >= forOf.get(check.alertname)!) silentPastFor.add(check.alertname);
    }
  }
  for (const rule of rules) {
    assert.ok(fires.has(rule.alert), `${rule.alert}: no test where it fires`);
    assert.ok(silentPastFor.has(rule.alert), `${rule.alert}: no test where it stays silent past its for:`);
  }
});

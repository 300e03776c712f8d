/**
 * The Grafana dashboard and the alert rules on a real Prometheus (Debian's
 * /usr/bin/prometheus) scraping a real `etcd-monitor run` that inspects
 * test-bed clusters: a healthy 3-member cluster (and a learner) under writes
 * with every inspection on and one object past 1 MiB, a 1-member TLS cluster filled to NOSPACE, and an endpoint
 * nobody listens on. A second target, the daemon with the namespace label
 * the operator adds, gives the namespace variable its values.
 *
 * Every panel query and variable query, with the variables substituted as
 * Grafana does, must parse and return data; every alert expression must
 * parse and every metric it reads must exist; the same with every name
 * prefixed kstone_ as the chart renders them for metricPrefix (a third
 * target exports that way); the server loads the rule file
 * and evaluates every rule without error, and the expected alerts go pending.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterState, dashboardJson, ROWS, VARIABLES } from '../../hack/dashboard.ts';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { silentLogger } from '../../src/log.ts';
import { freePort, startEtcdCluster } from '../../src/testbed/index.ts';
import { logTail, spawnTracked } from '../../src/testbed/processes.ts';
import { eventually } from '../../src/testing/wait.ts';
import { BIN } from '../support/cli.ts';
import { type PrometheusServer, RULES_FILE, readAlertRules, startPrometheus } from '../support/prometheus.ts';
import { clientOptionsFor, every, specFor } from '../support/specs.ts';

const DASHBOARD_FILE = new URL('../../deploy/grafana/etcd-monitor.json', import.meta.url).pathname;

test('deploy/grafana/etcd-monitor.json is what hack/dashboard.ts generates', async () => {
  const have = await readFile(DASHBOARD_FILE, 'utf8');
  assert.equal(have, dashboardJson(), 'out of date: run `npm run gen:dashboard`');
  const model = JSON.parse(have) as { templating: { list: { name: string }[] }; panels: unknown[] };
  assert.deepEqual(
    model.templating.list.map((v) => v.name),
    ['datasource', 'namespace', 'cluster'],
  );
});

/** What Grafana sends for a query: variables replaced by the selected values. */
function substitute(expr: string, vars: { namespace: string; cluster: string }): string {
  return expr
    .replaceAll('$namespace', vars.namespace)
    .replaceAll('$cluster', vars.cluster)
    .replaceAll('$__rate_interval', '15s');
}

/** label_values(selector, label) as Grafana runs it: the label values API. */
async function labelValues(prom: PrometheusServer, query: string): Promise<string[]> {
  const m = /^label_values\((.+), (\w+)\)$/.exec(query);
  assert.ok(m !== null, `not a label_values query: ${query}`);
  return prom.api<string[]>(`label/${m[2]}/values?match[]=${encodeURIComponent(m[1]!)}`);
}

/**
 * Polls Prometheus (for up to 2 minutes: the first scrapes and rounds must land) until every
 * query returns data; otherwise fails naming each query still without data, then `more()`.
 */
async function everyQueryHasData(
  prom: PrometheusServer,
  queries: readonly { what: string; expr: string }[],
  title: string,
  more: () => Promise<string> = async () => '',
): Promise<void> {
  let empty: string[] = [];
  try {
    await eventually(
      async () => {
        empty = [];
        for (const q of queries)
          if ((await prom.query(q.expr)).length === 0) empty.push(`${q.what}: ${q.expr}`);
        return empty.length === 0 ? true : undefined;
      },
      `data for every one of the ${title}`,
      120_000,
      1000,
    );
  } catch {
    assert.fail(`${title} without data:\n${empty.join('\n')}\n${await more()}`);
  }
}

function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:kstone_inspection|inspection|etcd_monitor)_[a-z_]+\b|\bup\b/g) ?? [])];
}

/** What the chart's "etcd-monitor.prefixed" helper does to the rules and the dashboard. */
function kstonePrefixed(text: string): string {
  return text.replace(/(^|[^a-zA-Z0-9_:])inspection_/g, '$1kstone_inspection_');
}

test('every dashboard query and alert expression works on a real Prometheus scraping etcd-monitor', async (t) => {
  // --- the clusters ---------------------------------------------------------
  const dash = await startEtcdCluster({ version: '3.6', members: 3, name: 'dash' });
  t.after(() => dash.stop());
  const full = await startEtcdCluster({
    version: '3.6',
    members: 1,
    name: 'full',
    quotaBackendBytes: 2 * 1024 * 1024,
    tls: true,
  });
  const fullTls = full.tls!;
  t.after(() => full.stop());
  const deadPort = await freePort();
  // A learner, so that the learner panels and alerts have a series to read.
  await dash.addMember({ learner: true });

  const writer = createV3MemberClient(parseEndpoint(dash.endpoints[0]!), clientOptionsFor(dash));
  t.after(() => writer.close());
  for (let i = 0; i < 20; i++) await writer.put(`/registry/pods/default/pod-${i}`, Buffer.from('x'));
  for (let i = 0; i < 5; i++) await writer.put(`/registry/configmaps/kube-system/cm-${i}`, Buffer.from('y'));

  const filler = createV3MemberClient(parseEndpoint(full.endpoints[0]!), clientOptionsFor(full));
  t.after(() => filler.close());
  const value = Buffer.alloc(256 * 1024, 'x');
  let filled = false;
  for (let i = 0; i < 64 && !filled; i++) {
    await filler.put(`/fill/${i}`, value).catch((err: unknown) => {
      assert.match(String(err), /database space exceeded/);
      filled = true;
    });
  }
  assert.ok(filled, 'cluster "full" reached its quota');

  // --- etcd-monitor run, as users run it ------------------------------------
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-dashboard-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fast = '{intervalSeconds: 1, timeoutSeconds: 10}';
  const config = `clusters:
  - name: dash
    endpoints: [${dash.endpoints.join(', ')}]
    features:
      healthy: ${fast}
      alarm: ${fast}
      # The 1.2 MiB object written below makes the first minutes' growth read as "full within 6 h":
      # off here, so that this healthy cluster raises no quota alert (promtool proves that rule).
      quota: {intervalSeconds: 1, timeoutSeconds: 10, options: {fullWithinSeconds: 0}}
      consistency: {intervalSeconds: 2, timeoutSeconds: 10, options: {hashRevision: current}}
      request: {intervalSeconds: 1, timeoutSeconds: 10, options: {sizes: true}}
      topology: ${fast}
      latency: ${fast}
      performance: {intervalSeconds: 1, timeoutSeconds: 10, options: {baselineSeconds: 1}}
  - name: full
    endpoints: [${full.endpoints[0]}]
    tls: {caFile: ${fullTls.caFile}, certFile: ${fullTls.certFile}, keyFile: ${fullTls.keyFile}}
    features: {healthy: ${fast}, alarm: ${fast}, quota: ${fast}, topology: ${fast}, certificates: ${fast}}
  - name: down
    endpoints: [http://127.0.0.1:${deadPort}]
    features: {healthy: ${fast}, alarm: ${fast}}
`;
  await writeFile(join(dir, 'monitor.yaml'), config);
  const runPort = await freePort();
  const logFile = join(dir, 'monitor.log');
  const log = openSync(logFile, 'a');
  const run = spawnTracked(
    process.execPath,
    [
      BIN,
      'run',
      '--config',
      join(dir, 'monitor.yaml'),
      '--listen',
      `127.0.0.1:${runPort}`,
      '--log-format',
      'json',
    ],
    { stdio: ['ignore', log, log], killWithParent: true },
  );
  closeSync(log);
  t.after(async () => {
    run.child.kill('SIGTERM');
    await run.exited;
  });

  // --- the namespaced target (the label set the operator exports) -----------
  const namespaced = new InspectionServer({
    logger: silentLogger(),
    registry: featureRegistry,
    jitter: false,
  });
  t.after(() => namespaced.close());
  const namespacedAddress = await namespaced.listen('127.0.0.1:0');
  await namespaced.engine.upsert(
    specFor(
      'team-a/dash',
      dash,
      { healthy: every(1), alarm: every(1) },
      { name: 'dash', labels: { namespace: 'team-a' } },
    ),
  );

  // --- the kstone prefix (metricPrefix kstone_): the chart renders the rules and the dashboard
  // with it, so they must work on those names too.
  const kstone = new InspectionServer({
    logger: silentLogger(),
    registry: featureRegistry,
    jitter: false,
    metricPrefix: 'kstone_',
  });
  t.after(() => kstone.close());
  const kstoneAddress = await kstone.listen('127.0.0.1:0');
  const slow = { ...every(2), timeoutSeconds: 10 };
  await kstone.engine.upsert(
    specFor('kdash', dash, {
      healthy: slow,
      alarm: slow,
      quota: slow,
      consistency: { ...slow, options: { hashRevision: 'current' } },
      request: { ...slow, options: { sizes: true } },
      topology: slow,
      latency: slow,
      performance: { ...slow, options: { baselineSeconds: 1 } },
    }),
  );
  await kstone.engine.upsert(
    specFor('kfull', full, { healthy: slow, alarm: slow, quota: slow, topology: slow, certificates: slow }),
  );

  // --- Prometheus -----------------------------------------------------------
  const prom = await startPrometheus({
    targets: [`127.0.0.1:${runPort}`, namespacedAddress, kstoneAddress],
    ruleFiles: [RULES_FILE],
    scrapeIntervalSeconds: 1,
  });
  t.after(() => prom.stop());

  // Writes while the test waits, so write rates have something to show.
  const writing = new AbortController();
  const writes = (async () => {
    for (let i = 0; !writing.signal.aborted; i++) {
      await writer.put(`/registry/pods/default/pod-${i % 40}`, Buffer.from(String(i))).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  t.after(async () => {
    writing.abort();
    await writes;
  });

  await eventually(
    async () => {
      if (run.child.exitCode !== null) throw new Error(`etcd-monitor run exited: ${await logTail(logFile)}`);
      const up = await prom.query('up{job="etcd-monitor"} == 1');
      return up.length === 3 ? true : undefined;
    },
    'every target scraped',
    60_000,
  );

  // --- variables ------------------------------------------------------------
  const namespaceQuery = VARIABLES.find((v) => v.name === 'namespace')!.query;
  const clusterQuery = VARIABLES.find((v) => v.name === 'cluster')!.query;
  assert.deepEqual(await labelValues(prom, namespaceQuery), ['team-a']);
  const allClusters = await eventually(async () => {
    const values = await labelValues(prom, substitute(clusterQuery, { namespace: '.*', cluster: '' }));
    return ['dash', 'down', 'full'].every((c) => values.includes(c)) ? values : undefined;
  }, 'every cluster in the cluster variable');
  assert.deepEqual(allClusters.sort(), ['dash', 'down', 'full']);
  assert.deepEqual(await labelValues(prom, substitute(clusterQuery, { namespace: 'team-a', cluster: '' })), [
    'dash',
  ]);

  // --- every panel query: parses and returns data ---------------------------
  const panelQueries = ROWS.flatMap((row) =>
    row.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr }))),
  );
  assert.ok(panelQueries.length >= 30, `${panelQueries.length} panel queries`);
  const all = { namespace: '.*', cluster: '.*' };
  await everyQueryHasData(
    prom,
    panelQueries.map((q) => ({ what: q.panel, expr: substitute(q.expr, all) })),
    'panel queries',
    async () => `monitor log:\n${await logTail(logFile)}`,
  );
  // One cluster, and one namespace: the queries Grafana sends for a single selection parse too
  // (a query that does not parse throws) and find that cluster.
  for (const vars of [
    { namespace: '.*', cluster: 'dash' },
    { namespace: 'team-a', cluster: 'dash' },
  ]) {
    for (const q of panelQueries) await prom.query(substitute(q.expr, vars));
    const healthy = await prom.query(
      substitute('inspection_etcd_endpoint_healthy{clusterName=~"$cluster", namespace=~"$namespace"}', vars),
    );
    assert.equal(
      healthy.length,
      vars.namespace === '.*' ? 8 : 4,
      `members of dash for ${JSON.stringify(vars)}`,
    );
  }
  // Every metric a panel reads exists.
  for (const name of new Set(panelQueries.flatMap((q) => metricNames(q.expr))))
    assert.ok((await prom.query(`group(${name})`)).length > 0, `panel metric ${name} is not exported`);

  // The fleet state: the cluster at NOSPACE is critical, the unreachable one not OK.
  const states = new Map(
    (await prom.query(substitute(clusterState('namespace=~"$namespace"'), all))).map((s) => [
      `${s.metric.namespace ?? ''}/${s.metric.clusterName}`,
      Number(s.value[1]),
    ]),
  );
  assert.equal(states.get('/full'), 2, `states ${JSON.stringify([...states])}`);
  assert.ok((states.get('/down') ?? 0) >= 1, `states ${JSON.stringify([...states])}`);
  assert.ok(states.has('/dash') && states.has('team-a/dash'), `states ${JSON.stringify([...states])}`);

  // --- with the kstone prefix, as the chart renders them ---------------------
  await everyQueryHasData(
    prom,
    panelQueries.map((q) => ({ what: q.panel, expr: substitute(kstonePrefixed(q.expr), all) })),
    'prefixed panel queries',
  );
  for (const rule of await readAlertRules()) {
    const expr = kstonePrefixed(rule.expr);
    await prom.query(expr);
    for (const name of metricNames(expr))
      assert.ok(
        (await prom.query(`group(${name})`)).length > 0,
        `${rule.alert} with the kstone prefix: metric ${name} is not exported`,
      );
  }

  // --- the alert rules on the same server -----------------------------------
  const rules = await readAlertRules();
  for (const rule of rules) {
    await prom.query(rule.expr); // throws on a parse or evaluation error
    for (const name of metricNames(rule.expr))
      assert.ok(
        (await prom.query(`group(${name})`)).length > 0,
        `${rule.alert}: metric ${name} is not exported`,
      );
  }
  interface RuleGroups {
    groups: { rules: { name: string; health: string; lastError?: string; type: string }[] }[];
  }
  await eventually(
    async () => {
      const loaded = (await prom.api<RuleGroups>('rules')).groups.flatMap((g) => g.rules);
      assert.deepEqual(loaded.map((r) => r.name).sort(), rules.map((r) => r.alert).sort());
      const bad = loaded.filter((r) => r.health !== 'ok');
      return bad.length === 0 ? true : undefined;
    },
    'every rule evaluated without error',
    30_000,
  );
  // One object past 1 MiB (etcd refuses writes over 1.5 MiB): EtcdObjectNearRequestLimit. Written
  // only now: a db that grew by 1.2 MiB at once has room for the small writes above, and would
  // leave the time-until-full panel without data (the db no longer grows).
  await writer.put('/registry/configmaps/kube-system/large', Buffer.alloc(1200 * 1024, 'z'));
  // Real problems put their alerts in ALERTS (pending: their for: has not passed).
  const expected = [
    ['EtcdNoSpaceAlarm', 'full'],
    ['EtcdMemberUnhealthy', 'full'],
    ['EtcdClusterNoQuorum', 'full'],
    ['EtcdMemberDiscoveryFailing', 'down'],
    ['EtcdObjectNearRequestLimit', 'dash'],
  ];
  await eventually(
    async () => {
      const alerts = await prom.query('ALERTS');
      const have = new Set(alerts.map((a) => `${a.metric.alertname}/${a.metric.clusterName}`));
      return expected.every(([alert, cluster]) => have.has(`${alert}/${cluster}`)) ? true : undefined;
    },
    `alerts ${expected.map((e) => e.join('/')).join(', ')} pending`,
    30_000,
  );
  // No false finding about the healthy cluster's data, alarms or topology under writes (its
  // health and inspection alerts are left out: one slow round on a loaded machine may make them
  // pending, which is what their for: is for).
  const falseFindings = (
    await prom.query(
      'ALERTS{clusterName="dash", alertname=~"EtcdMemberHashMismatch|EtcdMemberKeyCountDivergence|EtcdCorruptAlarm|EtcdNoSpaceAlarm|EtcdAlarmRaised|EtcdEndpointOfAnotherCluster|EtcdVersionSkew|EtcdMemberListsDisagree|EtcdDatabaseQuota.*"}',
    )
  ).map((a) => a.metric.alertname);
  assert.deepEqual(
    falseFindings,
    [],
    'the healthy cluster under writes raises no data, alarm or topology alert',
  );
});

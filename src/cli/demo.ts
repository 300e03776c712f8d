import { Command, Option } from 'commander';
import { InspectionServer } from '../inspection-server.ts';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { createV3MemberClient } from '../etcd/v3/client.ts';
import { DEFAULT_CLIENT_OPTIONS, type EtcdV3MemberClient } from '../etcd/types.ts';
import type { ClusterSpec, FeatureSpec } from '../engine/cluster-spec.ts';
import { featureRegistry } from '../features/index.ts';
import { errorMessage } from '../errors.ts';
import type { EtcdVersion } from '../testbed/binaries.ts';
import type { TestCluster } from '../testbed/cluster.ts';
import { addLogFlags, loggerFrom, positiveInt, probeListenOption, type LogFlags } from './common.ts';
import { checkProbeListen, parseListen } from '../server/listen.ts';
import { onShutdownSignal } from './signals.ts';
import { KubeKeyspace } from './demo-keyspace.ts';

interface DemoFlags extends LogFlags {
  readonly listen: string;
  readonly probeListen?: string;
  readonly members: number;
  readonly etcdVersion: EtcdVersion;
  readonly interval: number;
  readonly writesPerSecond: number;
  readonly quotaMib: number;
  readonly compactEvery: number;
}

export function demoCommand(done: (code: number) => void): Command {
  const cmd = new Command('demo')
    .description(
      'Start a local etcd cluster with a Kubernetes-like keyspace and a light write load, and monitor it with every feature. Ctrl-C stops everything and removes its data.',
    )
    .option('--listen <host:port>', 'address of the HTTP server', '127.0.0.1:8080')
    .addOption(probeListenOption())
    .addOption(new Option('--members <n>', 'cluster size').argParser(positiveInt('--members')).default(3))
    .addOption(
      new Option('--etcd-version <version>', 'etcd version of the test bed')
        .choices(['3.4', '3.5', '3.6'])
        .default('3.6'),
    )
    .addOption(
      new Option('--interval <seconds>', 'inspection interval')
        .argParser(positiveInt('--interval'))
        .default(5),
    )
    .addOption(
      new Option('--writes-per-second <n>', 'background write load')
        .argParser(positiveInt('--writes-per-second'))
        .default(20),
    )
    .addOption(
      new Option(
        '--quota-mib <n>',
        "the members' --quota-backend-bytes in MiB: small, so that the quota inspection shows a usage percentage",
      )
        .argParser(positiveInt('--quota-mib'))
        .default(64),
    )
    .addOption(
      new Option(
        '--compact-every <seconds>',
        'compact like kube-apiserver does (to the revision seen one period earlier), so that the hash verdict and fragmentation show',
      )
        .argParser(positiveInt('--compact-every'))
        .default(120),
    );
  addLogFlags(cmd, 'pretty').action(async (flags: DemoFlags) => done(await demo(flags)));
  cmd.setOptionValueWithSource('logLevel', 'warn', 'default');
  return cmd;
}

/**
 * The test bed (etcd built by `npm run setup`) is part of the checkout, not of
 * the published package: there the demo says where to run it instead.
 */
async function loadTestbed(): Promise<typeof import('../testbed/cluster.ts')> {
  try {
    return await import('../testbed/cluster.ts');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      'the demo runs from a checkout of etcd-monitor, which builds the etcd it starts: git clone the repository, then `npm run demo`',
    );
  }
}

async function demo(flags: DemoFlags): Promise<number> {
  try {
    parseListen(flags.listen);
    if (flags.probeListen !== undefined) checkProbeListen(flags.listen, flags.probeListen);
  } catch (err) {
    process.stderr.write(`etcd-monitor demo: ${errorMessage(err)}\n`);
    return 2;
  }
  const logger = loggerFrom(flags);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let startEtcdCluster: typeof import('../testbed/cluster.ts')['startEtcdCluster'];
  try {
    ({ startEtcdCluster } = await loadTestbed());
  } catch (err) {
    process.stderr.write(`etcd-monitor demo: ${errorMessage(err)}\n`);
    return 1;
  }
  out(`starting a ${flags.members}-member etcd ${flags.etcdVersion} cluster on 127.0.0.1 ...`);
  let cluster: TestCluster;
  try {
    cluster = await startEtcdCluster({
      version: flags.etcdVersion,
      members: flags.members,
      name: 'demo',
      quotaBackendBytes: flags.quotaMib * MIB,
    });
  } catch (err) {
    process.stderr.write(`etcd-monitor demo: cannot start etcd: ${errorMessage(err)}\n`);
    return 1;
  }
  const writer: EtcdV3MemberClient = createV3MemberClient(
    parseEndpoint(cluster.endpoints[0]!),
    DEFAULT_CLIENT_OPTIONS,
  );
  const daemon = new InspectionServer({ logger, registry: featureRegistry, jitter: false });
  const load = new AbortController();
  let summaryTimer: NodeJS.Timeout | undefined;
  let compactTimer: NodeJS.Timeout | undefined;

  const stopAll = async (): Promise<void> => {
    load.abort();
    clearInterval(summaryTimer);
    clearInterval(compactTimer);
    await daemon.close().catch(() => undefined);
    writer.close();
    await cluster.stop();
  };

  try {
    const keyspace = new KubeKeyspace(writer);
    const seeded = await keyspace.seed();
    out(
      `wrote ${seeded} keys under /registry (pods, configmaps, secrets, leases, events, a custom resource)`,
    );
    const features: Record<string, FeatureSpec> = {};
    for (const name of featureRegistry.names()) {
      // 3.4 and 3.5 do not report their quota: tell the quota inspection. The
      // performance inspection's first round reads twice: within the round's deadline (the interval).
      const options =
        name === 'quota'
          ? { quotaBytes: flags.quotaMib * MIB }
          : name === 'performance'
            ? { baselineSeconds: Math.max(1, Math.floor(flags.interval / 2)) }
            : undefined;
      features[name] = featureRegistry.enable(
        name,
        { intervalSeconds: flags.interval, ...(options !== undefined && { options }) },
        'v3',
      );
    }
    const spec: ClusterSpec = {
      id: 'demo',
      name: 'demo',
      endpoints: cluster.endpoints.map((e) => parseEndpoint(e)),
      storageBackend: 'v3',
      discoverMembers: true,
      client: DEFAULT_CLIENT_OPTIONS,
      features,
    };
    await daemon.engine.upsert(spec);
    // Probes first: once /metrics answers, the probe listener answers too.
    const probeAddress =
      flags.probeListen === undefined ? undefined : await daemon.listenProbes(flags.probeListen);
    const address = await daemon.listen(flags.listen);
    daemon.setReady(true);
    void keyspace.churn(flags.writesPerSecond, load.signal);
    compactTimer = compactLikeKubeApiserver(writer, flags.compactEvery, logger);

    out('');
    out(`etcd endpoints:  ${cluster.endpoints.join(',')}`);
    out(`status page:     http://${address}/`);
    out(`metrics:         http://${address}/metrics`);
    out(`JSON API:        http://${address}/api/v1/clusters`);
    if (probeAddress !== undefined) out(`probes:          http://${probeAddress}/healthz, /readyz`);
    out(`try:             npx etcd-monitor inspect --endpoints ${cluster.endpoints[0]}`);
    out(
      `quota ${flags.quotaMib} MiB per member; compaction every ${flags.compactEvery} s to the revision of the previous one (as kube-apiserver does)`,
    );
    out('Ctrl-C stops the cluster and removes its data.');
    out('');
    summaryTimer = setInterval(() => {
      const snap = daemon.store.get('demo');
      if (snap === undefined) return;
      const parts = Object.values(snap.features).map((f) => `${f.name}: ${f.last?.summary ?? 'pending'}`);
      out(`[${new Date().toLocaleTimeString()}] ${keyspace.writes} writes · ${parts.join(' · ')}`);
    }, flags.interval * 1000);
  } catch (err) {
    process.stderr.write(`etcd-monitor demo: ${errorMessage(err)}\n`);
    await stopAll();
    return 1;
  }

  return new Promise<number>((resolve) => {
    const remove = onShutdownSignal(async () => {
      out('stopping: monitor, write load, etcd cluster ...');
      await stopAll();
      remove();
      out('stopped; the demo data is removed.');
      resolve(0);
    });
  });
}

const MIB = 1024 * 1024;

/**
 * kube-apiserver's compaction loop: every period, compact to the revision it
 * saw at the previous tick, so one period of history is always kept.
 */
function compactLikeKubeApiserver(
  client: EtcdV3MemberClient,
  everySeconds: number,
  logger: ReturnType<typeof loggerFrom>,
): NodeJS.Timeout {
  let previous: bigint | undefined;
  const timer = setInterval(() => {
    void (async () => {
      try {
        const { header } = await client.range({ key: '/', countOnly: true });
        if (previous !== undefined && previous > 0n) await client.compact(previous);
        previous = header.revision;
      } catch (err) {
        logger.warn({ error: errorMessage(err) }, 'demo compaction failed');
      }
    })();
  }, everySeconds * 1000);
  timer.unref();
  return timer;
}

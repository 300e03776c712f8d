import type { Command } from 'commander';
import { controllerCommand } from './run-controllers.ts';

export function etcdclusterCommand(done: (code: number) => void): Command {
  return controllerCommand(
    'etcdcluster',
    "Run the EtcdCluster controller: reads each EtcdCluster's members into its status and keeps one EtcdInspection per enabled feature.",
    ['etcdcluster'],
    'etcd-monitor-etcdcluster',
    done,
  );
}

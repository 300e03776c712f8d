import type { Command } from 'commander';
import { controllerCommand } from './run-controllers.ts';

export function operatorCommand(done: (code: number) => void): Command {
  return controllerCommand(
    'operator',
    'Run both Kubernetes controllers (EtcdCluster and EtcdInspection) in one process, under one leader election.',
    ['etcdcluster', 'inspection'],
    'etcd-monitor-operator',
    done,
  );
}

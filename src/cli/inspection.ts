import type { Command } from 'commander';
import { controllerCommand } from './run-controllers.ts';

export function inspectionCommand(done: (code: number) => void): Command {
  return controllerCommand(
    'inspection',
    'Run the EtcdInspection controller: runs every EtcdInspection, writes its status and serves the results on /metrics.',
    ['inspection'],
    'etcd-monitor-inspection',
    done,
  );
}

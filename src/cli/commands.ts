import type { Command } from 'commander';

export type CommandFactory = (done: (code: number) => void) => Command;

/**
 * Every command, with the one-line summary the top-level help lists. Each
 * command module is imported only when that command runs: `inspect`, `run`
 * and `demo` never load the Kubernetes client, and `--help`/`--version` load
 * no command at all (start-up cost: docs/performance.md).
 */
export const COMMANDS: readonly { name: string; summary: string; load: () => Promise<CommandFactory> }[] = [
  {
    name: 'run',
    summary: 'run the standalone daemon for the clusters of a YAML config file',
    load: async () => (await import('./run.ts')).runCommand,
  },
  {
    name: 'inspect',
    summary: 'inspect one cluster once and print the result',
    load: async () => (await import('./inspect.ts')).inspectCommand,
  },
  {
    name: 'demo',
    summary: 'start a local etcd cluster with a write load and monitor it (from a checkout)',
    load: async () => (await import('./demo.ts')).demoCommand,
  },
  {
    name: 'operator',
    summary: 'run both Kubernetes controllers under one leader election',
    load: async () => (await import('./run-controllers.ts')).operatorCommand,
  },
  {
    name: 'etcdcluster',
    summary: 'run the EtcdCluster controller',
    load: async () => (await import('./run-controllers.ts')).etcdclusterCommand,
  },
  {
    name: 'inspection',
    summary: 'run the EtcdInspection controller',
    load: async () => (await import('./run-controllers.ts')).inspectionCommand,
  },
  {
    name: 'migrate',
    summary: "convert kstone's EtcdCluster objects into etcd-monitor's",
    load: async () => (await import('./migrate.ts')).migrateCommand,
  },
  {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh or fish)',
    load: async () => (await import('./completion.ts')).completionCommand,
  },
];

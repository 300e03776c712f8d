/**
 * One value a feature contributes to /metrics. The renderer adds the
 * cluster's labels (clusterName and the cluster's own, e.g. namespace)
 * itself, so a feature only names its own labels (endpoint, alarmType, ...).
 */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | bigint;
  /** The family the sample belongs to when its name is not the family's: a summary's `_sum` and `_count`. */
  readonly family?: string;
}

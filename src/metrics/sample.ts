/**
 * One value a feature contributes to /metrics. The renderer adds the
 * cluster labels (clusterName, and namespace in Kubernetes) itself, so a
 * feature only names its own labels (endpoint, alarmType, ...).
 */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | bigint;
}

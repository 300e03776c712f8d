/** How findings print figures: binary byte units, short durations, whole percentages. */

// Byte sizes print the same everywhere (findings, `inspect`, the status page).
export { humanBytes } from '../units.ts';

export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'never';
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)}m`;
  if (s < 2 * 86_400) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
}

export function percent(ratio: number): string {
  return `${Math.round(ratio * 100)} %`;
}

/** "127.0.0.1:2379 (etcd-0)": where a finding is, as people name members. */
export function memberLabel(endpoint: string, name: string): string {
  if (endpoint === '') return name === '' ? '(unnamed member)' : name;
  return name === '' ? endpoint : `${endpoint} (${name})`;
}

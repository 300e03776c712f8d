/** How findings print figures: binary byte units, short durations, percentages. */

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

/** Whole percentages, with one decimal below 10 % so that a small share still shows ("0.3 %"). */
export function percent(ratio: number): string {
  const p = ratio * 100;
  return p > 0 && p < 10 ? `${p.toFixed(1)} %` : `${Math.round(p)} %`;
}

/** "127.0.0.1:2379 (etcd-0)": where a finding is, as people name members. */
export function memberLabel(endpoint: string, name: string): string {
  if (endpoint === '') return name === '' ? '(unnamed member)' : name;
  return name === '' ? endpoint : `${endpoint} (${name})`;
}

/** How findings print figures: binary byte units, short durations, percentages. */

// Sizes and durations print the same everywhere (findings, `inspect`, the status page).
export { humanBytes, humanDuration } from '../units.ts';

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

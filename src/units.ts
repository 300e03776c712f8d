/** How sizes and durations print for people, everywhere: findings, `inspect`'s table, the status page. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function humanBytes(n: number | bigint): string {
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  // "2 GiB" rather than "2.0 GiB" for the round figures quotas are set to.
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${text} ${BYTE_UNITS[unit]}`;
}

/** "45s", "12m", "3.5h", "2.0d"; "never" for an infinite time. */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'never';
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)}m`;
  if (s < 2 * 86_400) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
}

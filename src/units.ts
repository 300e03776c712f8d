/** How sizes print for people, everywhere: findings, `inspect`'s table, the status page. */

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

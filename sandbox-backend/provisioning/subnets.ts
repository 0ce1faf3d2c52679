/**
 * Subnets for sandbox networks. Docker's default address pools hold about 31 networks, fewer than
 * one classroom needs, so each sandbox network gets an explicit /28 (room for five nodes and the
 * registry) from a configured range.
 */
const SANDBOX_PREFIX = 28;

function toInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** How many /28 networks fit in the range ("172.30.0.0/16" -> 4096). */
export function subnetCount(range: string): number {
  const prefix = Number(range.split('/')[1]);
  return 2 ** (SANDBOX_PREFIX - prefix);
}

/** The index-th /28 of the range, e.g. subnetAt("172.30.0.0/16", 1) === "172.30.0.16/28". */
export function subnetAt(range: string, index: number): string {
  const [base, prefixText] = range.split('/') as [string, string];
  const prefix = Number(prefixText);
  const start = toInt(base) - (toInt(base) % 2 ** (32 - prefix));
  if (index < 0 || index >= subnetCount(range)) throw new RangeError(`subnet index ${index} is outside ${range}`);
  return `${toIp(start + index * 2 ** (32 - SANDBOX_PREFIX))}/${SANDBOX_PREFIX}`;
}

/** A random /28 of the range; a clash with a network in use is retried by the caller. */
export function randomSubnet(range: string, random: () => number = Math.random): string {
  return subnetAt(range, Math.floor(random() * subnetCount(range)));
}

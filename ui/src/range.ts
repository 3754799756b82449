// History ranges: button data-range value → query window.

export const RANGES = ['1h', '6h', '24h', '7d', '30d', '90d', '365d'] as const;
export type RangeId = (typeof RANGES)[number];

const HOUR_US = 3600 * 1e6;
const DAY_US = 24 * HOUR_US;

const SPANS: Record<RangeId, { us: number; label: string }> = {
  '1h': { us: HOUR_US, label: '1 hour' },
  '6h': { us: 6 * HOUR_US, label: '6 hours' },
  '24h': { us: 24 * HOUR_US, label: '24 hours' },
  '7d': { us: 7 * DAY_US, label: '7 days' },
  '30d': { us: 30 * DAY_US, label: '30 days' },
  '90d': { us: 90 * DAY_US, label: '90 days' },
  '365d': { us: 365 * DAY_US, label: '365 days' },
};

export const HISTORY_POINTS = 1000;

export function isRange(s: string | null | undefined): s is RangeId {
  return !!s && (RANGES as readonly string[]).includes(s);
}

export function rangeLabel(r: RangeId): string {
  return SPANS[r].label;
}

export interface RangeQuery {
  fromUs: number;
  toUs: number;
  points: number;
}

/** Window ending at `nowMs` (wall clock, ms) — integer µs as Rust expects i64. */
export function rangeToQuery(r: RangeId, nowMs: number, points = HISTORY_POINTS): RangeQuery {
  const toUs = Math.floor(nowMs) * 1000;
  return { fromUs: toUs - SPANS[r].us, toUs, points };
}

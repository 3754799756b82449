import { describe, expect, it } from 'vitest';
import { isRange, RANGES, rangeLabel, rangeToQuery } from './range';

describe('range → query', () => {
  const now = Date.UTC(2024, 0, 31, 12, 0, 0); // ms

  it('ends at now in integer microseconds', () => {
    const q = rangeToQuery('1h', now + 0.7);
    expect(q.toUs).toBe(now * 1000);
    expect(Number.isInteger(q.fromUs)).toBe(true);
    expect(q.points).toBe(1000);
  });

  it.each([
    ['1h', 3600],
    ['6h', 6 * 3600],
    ['24h', 86400],
    ['7d', 7 * 86400],
    ['30d', 30 * 86400],
    ['90d', 90 * 86400],
    ['365d', 365 * 86400],
  ] as const)('%s spans %i seconds', (r, secs) => {
    const q = rangeToQuery(r, now);
    expect(q.toUs - q.fromUs).toBe(secs * 1e6);
  });

  it('accepts a custom point count', () => {
    expect(rangeToQuery('7d', now, 200).points).toBe(200);
  });

  it('validates data-range values', () => {
    expect(RANGES).toHaveLength(7);
    expect(isRange('30d')).toBe(true);
    expect(isRange('2d')).toBe(false);
    expect(isRange(undefined)).toBe(false);
  });

  it('labels ranges for the info line', () => {
    expect(rangeLabel('30d')).toBe('30 days');
    expect(rangeLabel('1h')).toBe('1 hour');
  });
});

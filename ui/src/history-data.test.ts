import { describe, expect, it } from 'vitest';
import { historyInfo, pointCount, seriesToColumns } from './history-data';
import { series } from './test-fixtures';

const M = 60e6; // one minute bucket in µs
const T = 1_700_000_000 * 1e6;

describe('seriesToColumns', () => {
  it('converts points to mean/min/max columns with x in seconds', () => {
    const c = seriesToColumns([series('cpu', [T, T + M, T + 2 * M])]);
    expect(c.x).toEqual([T / 1e6, T / 1e6 + 60, T / 1e6 + 120]);
    const cpu = c.series.get('cpu')!;
    expect(cpu.mean).toEqual([1, 2, 3]);
    expect(cpu.min).toEqual([0, 1, 2]);
    expect(cpu.max).toEqual([2, 3, 4]);
    expect(c.resolution).toBe('minute');
  });

  it('aligns series on the union of timestamps, null where one is missing', () => {
    const c = seriesToColumns([series('cpu', [T, T + M]), series('mem.used', [T + M])]);
    expect(c.x).toHaveLength(2);
    expect(c.series.get('mem.used')!.mean).toEqual([null, 1]);
  });

  it('inserts a null row where buckets are missing so lines break', () => {
    const c = seriesToColumns([series('cpu', [T, T + M, T + 5 * M])]);
    // gap marker between T+1m and T+5m
    expect(c.x).toHaveLength(4);
    expect(c.series.get('cpu')!.mean).toEqual([1, 2, null, 3]);
  });

  it('does not treat adjacent buckets as gaps', () => {
    const c = seriesToColumns([series('cpu', [T, T + M, T + 2 * M, T + 3 * M])]);
    expect(c.series.get('cpu')!.mean).not.toContain(null);
  });

  it('handles empty results', () => {
    const c = seriesToColumns([series('cpu', []), series('load1', [])]);
    expect(c.x).toEqual([]);
    expect(c.series.get('cpu')!.mean).toEqual([]);
  });
});

describe('historyInfo', () => {
  it('describes range, point count, resolution and latency', () => {
    const ts = Array.from({ length: 1000 }, (_, i) => T + i * M);
    expect(historyInfo('30 days', [series('cpu', ts)], 12.4)).toBe(
      '30 days · 1000 points · minute rollups · answered in 12 ms',
    );
    expect(historyInfo('1 hour', [series('cpu', [T], { resolution: 'raw' })], 3)).toBe(
      '1 hour · 1 point · raw samples · answered in 3 ms',
    );
  });

  it('says so when there is nothing in range', () => {
    const info = historyInfo('7 days', [series('cpu', [])], 5);
    expect(info).toContain('no samples in this range yet');
  });

  it('counts the longest series', () => {
    expect(pointCount([series('a', [T]), series('b', [T, T + M])])).toBe(2);
  });
});

import type { Series } from './api-types';
/** Metrics requested for the History tab, in request order. */
export const HISTORY_METRICS = ['cpu', 'mem.used', 'swap.used', 'disk.read', 'disk.write', 'net.rx', 'net.tx', 'load1'];

export interface BandColumns {
  mean: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
}

export interface HistoryColumns {
  /** seconds */
  x: number[];
  /** by metric name */
  series: Map<string, BandColumns>;
  resolution: 'raw' | 'minute' | null;
  bucketUs: number;
}

/**
 * Align several Series on one x axis (union of their bucket timestamps).
 * Missing buckets become null; where the union itself skips more than 1.5
 * buckets an all-null row is inserted so uPlot draws a gap, not a bridge.
 */
export function seriesToColumns(list: readonly Series[]): HistoryColumns {
  const bucketUs = list.reduce((b, s) => Math.max(b, s.bucket_us || 0), 0);
  const tsSet = new Set<number>();
  for (const s of list) for (const p of s.points) tsSet.add(p.ts_us);
  const ts = [...tsSet].sort((a, b) => a - b);

  // Insert gap markers between far-apart timestamps.
  const xs: number[] = [];
  for (let i = 0; i < ts.length; i++) {
    if (i > 0 && bucketUs > 0 && ts[i] - ts[i - 1] > 1.5 * bucketUs) {
      xs.push((ts[i] + ts[i - 1]) / 2);
    }
    xs.push(ts[i]);
  }
  const index = new Map<number, number>();
  xs.forEach((t, i) => index.set(t, i));

  const series = new Map<string, BandColumns>();
  for (const s of list) {
    const cols: BandColumns = {
      mean: new Array(xs.length).fill(null),
      min: new Array(xs.length).fill(null),
      max: new Array(xs.length).fill(null),
    };
    for (const p of s.points) {
      const i = index.get(p.ts_us)!;
      cols.mean[i] = p.mean;
      cols.min[i] = p.min;
      cols.max[i] = p.max;
    }
    series.set(s.metric, cols);
  }
  const withPoints = list.find((s) => s.points.length > 0) ?? list[0];
  return {
    x: xs.map((t) => t / 1e6),
    series,
    resolution: withPoints ? withPoints.resolution : null,
    bucketUs,
  };
}

/** Number of real data points (the longest series), not counting gap markers. */
export function pointCount(list: readonly Series[]): number {
  return list.reduce((n, s) => Math.max(n, s.points.length), 0);
}

/** "30 days · 1000 points · minute rollups · answered in 12 ms" */
export function historyInfo(rangeLabel: string, list: readonly Series[], elapsedMs: number): string {
  const n = pointCount(list);
  const ms = `answered in ${Math.round(elapsedMs)} ms`;
  if (n === 0) return `${rangeLabel} · no samples in this range yet · ${ms}`;
  const res = list.find((s) => s.points.length > 0)!.resolution === 'minute' ? 'minute rollups' : 'raw samples';
  // plain digits (no grouping) so "1000 points" is easy to read and match
  return `${rangeLabel} · ${n} ${n === 1 ? 'point' : 'points'} · ${res} · ${ms}`;
}

import type { MetricSample } from './api-types';

/** Column arrays ready for uPlot (x in seconds). `null` marks a gap. */
export interface LiveColumns {
  x: number[];
  cpu: (number | null)[];
  /** cores[i] = series for core i */
  cores: (number | null)[][];
  memUsed: (number | null)[];
  swapUsed: (number | null)[];
  diskRead: (number | null)[];
  diskWrite: (number | null)[];
  netRx: (number | null)[];
  netTx: (number | null)[];
}

export const LIVE_WINDOW_US = 10 * 60 * 1e6;

/**
 * Time-ordered window of the last N minutes of samples.
 *
 * Backfill (get_overview().recent) and live events can arrive in any order
 * and overlap, so samples are merged by timestamp and exact duplicates dropped.
 * The window is anchored at the newest sample, not the wall clock.
 */
export class LiveBuffer {
  private samples: MetricSample[] = [];
  /** A jump between consecutive samples larger than this is drawn as a gap. */
  gapUs: number;

  constructor(
    readonly windowUs: number = LIVE_WINDOW_US,
    samplingIntervalMs = 1000,
  ) {
    this.gapUs = LiveBuffer.gapFor(samplingIntervalMs);
  }

  /** Gap threshold for a sampling interval: 3 intervals, at least 5 s. */
  static gapFor(samplingIntervalMs: number): number {
    return Math.max(5e6, 3 * samplingIntervalMs * 1000);
  }

  get size(): number {
    return this.samples.length;
  }

  latest(): MetricSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Insert one sample; returns false when it was a duplicate or too old. */
  add(s: MetricSample): boolean {
    const arr = this.samples;
    const last = arr[arr.length - 1];
    if (!last || s.ts_us > last.ts_us) {
      arr.push(s); // common case: live sample in order
    } else {
      if (s.ts_us < last.ts_us - this.windowUs) return false;
      // binary search for the insertion point
      let lo = 0;
      let hi = arr.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (arr[mid].ts_us < s.ts_us) lo = mid + 1;
        else hi = mid;
      }
      if (lo < arr.length && arr[lo].ts_us === s.ts_us) return false;
      arr.splice(lo, 0, s);
    }
    this.trim();
    return true;
  }

  /** Insert many; returns how many were new. */
  addMany(samples: readonly MetricSample[]): number {
    let n = 0;
    for (const s of samples) if (this.add(s)) n++;
    return n;
  }

  private trim(): void {
    const arr = this.samples;
    if (arr.length === 0) return;
    const cutoff = arr[arr.length - 1].ts_us - this.windowUs;
    let drop = 0;
    while (drop < arr.length && arr[drop].ts_us < cutoff) drop++;
    if (drop > 0) arr.splice(0, drop);
  }

  /** Highest core count seen in the window (cores can appear late, e.g. first sample empty). */
  coreCount(): number {
    let n = 0;
    for (const s of this.samples) n = Math.max(n, s.cpu_core_pct.length);
    return n;
  }

  /**
   * Build uPlot column arrays. Where two consecutive samples are more than
   * `gapUs` apart (paused, suspended laptop) an all-null row is inserted so
   * uPlot breaks the lines instead of drawing a misleading ramp.
   */
  columns(): LiveColumns {
    const nCores = this.coreCount();
    const c: LiveColumns = {
      x: [],
      cpu: [],
      cores: Array.from({ length: nCores }, () => []),
      memUsed: [],
      swapUsed: [],
      diskRead: [],
      diskWrite: [],
      netRx: [],
      netTx: [],
    };
    const pushRow = (xs: number, s: MetricSample | null) => {
      c.x.push(xs);
      c.cpu.push(s ? s.cpu_total_pct : null);
      for (let i = 0; i < nCores; i++) c.cores[i].push(s ? (s.cpu_core_pct[i] ?? null) : null);
      c.memUsed.push(s ? s.mem_used_bytes : null);
      c.swapUsed.push(s ? s.swap_used_bytes : null);
      c.diskRead.push(s ? s.disk_read_bps : null);
      c.diskWrite.push(s ? s.disk_write_bps : null);
      c.netRx.push(s ? s.net_rx_bps : null);
      c.netTx.push(s ? s.net_tx_bps : null);
    };
    let prev: MetricSample | null = null;
    for (const s of this.samples) {
      if (prev && s.ts_us - prev.ts_us > this.gapUs) {
        pushRow((prev.ts_us + s.ts_us) / 2 / 1e6, null);
      }
      pushRow(s.ts_us / 1e6, s);
      prev = s;
    }
    return c;
  }
}

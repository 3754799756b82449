import * as api from './api';
import type { Series } from './api';
import { COLORS, TimeChart, type Column, type ChartSpec } from './charts';
import { $, $all, setStatusText } from './dom';
import { toCommandError } from './errors';
import { formatBytes, formatBytesAxis, formatPct, formatPctAxis, formatRate, formatRateAxis } from './format';
import { HISTORY_METRICS, historyInfo, pointCount, seriesToColumns, type HistoryColumns } from './history-data';
import { isRange, rangeLabel, rangeToQuery, type RangeId } from './range';

// History tab: range buttons → one `history` call → five band charts.

interface HistChart {
  id: string;
  metrics: string[];
  spec: ChartSpec;
}

const line = (label: string, color: string, fmt: (v: number) => string) => ({ label, color, fmt, band: true });

const CHARTS: HistChart[] = [
  { id: 'hist-cpu', metrics: ['cpu'], spec: { lines: [line('CPU', COLORS.cpu, formatPct)], yFmt: formatPctAxis, yRange: [0, 100] } },
  {
    id: 'hist-mem',
    metrics: ['mem.used', 'swap.used'],
    spec: { lines: [line('used', COLORS.mem, formatBytes), line('swap used', COLORS.swap, formatBytes)], yFmt: formatBytesAxis, bytes: true },
  },
  {
    id: 'hist-disk',
    metrics: ['disk.read', 'disk.write'],
    spec: { lines: [line('read', COLORS.read, formatRate), line('write', COLORS.write, formatRate)], yFmt: formatRateAxis, bytes: true },
  },
  {
    id: 'hist-net',
    metrics: ['net.rx', 'net.tx'],
    spec: { lines: [line('rx', COLORS.rx, formatRate), line('tx', COLORS.tx, formatRate)], yFmt: formatRateAxis, bytes: true },
  },
  {
    id: 'hist-load',
    metrics: ['load1'],
    spec: { lines: [line('load 1 min', COLORS.load, (v) => v.toFixed(2))], yFmt: (v) => v.toFixed(1) },
  },
];

export class HistoryView {
  private charts: Map<string, TimeChart> | null = null;
  private seq = 0;
  private loadedOnce = false;

  constructor() {
    for (const b of $all<HTMLButtonElement>('button.range')) {
      b.addEventListener('click', () => {
        const r = b.dataset.range;
        if (isRange(r)) void this.load(r);
      });
    }
  }

  /** Called when the tab becomes visible; first time loads the last hour. */
  onShow(): void {
    if (!this.loadedOnce) void this.load('1h');
  }

  private ensureCharts(): Map<string, TimeChart> {
    if (!this.charts) {
      // Created lazily so they get the real width of the visible tab.
      this.charts = new Map(CHARTS.map((c) => [c.id, new TimeChart($(`#${c.id}`), { ...c.spec, syncKey: 'history' })]));
    }
    return this.charts;
  }

  async load(range: RangeId): Promise<void> {
    this.loadedOnce = true;
    const mySeq = ++this.seq;
    for (const b of $all<HTMLButtonElement>('button.range')) {
      const on = b.dataset.range === range;
      b.classList.toggle('active', on);
      b.setAttribute('aria-pressed', String(on));
    }
    const info = $('#history-info');
    setStatusText(info, `Loading ${rangeLabel(range)}…`, '', ['error']);
    const q = rangeToQuery(range, Date.now());
    const t0 = performance.now();
    let list: Series[];
    try {
      list = await api.history(HISTORY_METRICS, q.fromUs, q.toUs, q.points);
    } catch (e) {
      if (mySeq !== this.seq) return;
      setStatusText(info, `Could not load history: ${toCommandError(e).message}`, 'error', ['error']);
      return;
    }
    const elapsed = performance.now() - t0;
    if (mySeq !== this.seq) return; // a newer range was clicked meanwhile
    this.render(list, [q.fromUs / 1e6, q.toUs / 1e6]);
    info.textContent = historyInfo(rangeLabel(range), list, elapsed);
    $('#history-empty').hidden = pointCount(list) > 0;
  }

  private render(list: Series[], xRange: [number, number]): void {
    const charts = this.ensureCharts();
    const cols: HistoryColumns = seriesToColumns(list);
    for (const c of CHARTS) {
      const chart = charts.get(c.id)!;
      const columns: Column[] = [];
      for (const m of c.metrics) {
        const band = cols.series.get(m);
        const blank = () => new Array<number | null>(cols.x.length).fill(null);
        columns.push(band?.mean ?? blank(), band?.max ?? blank(), band?.min ?? blank());
      }
      chart.setData(cols.x, columns, xRange);
      const s = list.find((x) => x.metric === c.metrics[0]);
      chart.el.dataset.resolution = s?.resolution ?? '';
    }
  }
}

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

// Thin wrapper around uPlot: theme from CSS variables, width follows the
// container, `data-points` attribute tracks how many x values are plotted.

export interface LineSpec {
  label: string;
  color: string;
  /** legend value formatter */
  fmt: (v: number) => string;
  /** draw a min–max band: the caller supplies three columns (mean, max, min) for this line */
  band?: boolean;
}

export interface ChartSpec {
  lines: LineSpec[];
  /** y axis tick formatter */
  yFmt: (v: number) => string;
  /** fixed y range, else 0..max */
  yRange?: [number, number];
  /** y values are bytes: put ticks on powers of two (256 MiB, 512 MiB, 1 GiB…) */
  bytes?: boolean;
  height?: number;
  /** charts with the same key share the hover cursor */
  syncKey?: string;
}

export type Column = (number | null)[];

const DEFAULT_HEIGHT = 150;
const Y_AXIS_WIDTH = 78; // fits "1023 KiB/s"

/** Tick increments for byte axes: 1, 2, 4 … 512 × 1024^k. */
export const BYTE_INCRS: number[] = (() => {
  const out: number[] = [];
  for (let k = 0; k <= 5; k++) for (let m = 1; m < 1024; m *= 2) out.push(m * 1024 ** k);
  return out;
})();
const charts = new Set<TimeChart>();

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/** "#3b82f6" → "rgba(59,130,246,a)" for band fills. */
export function withAlpha(hex: string, a: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${a})`;
}

function buildOptions(spec: ChartSpec, width: number): uPlot.Options {
  const axis = cssVar('--chart-axis', '#888');
  const grid = cssVar('--chart-grid', 'rgba(128,128,128,0.2)');
  const series: uPlot.Series[] = [{}];
  const bands: uPlot.Band[] = [];
  for (const l of spec.lines) {
    const value = (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : l.fmt(v));
    // Points only when there are too few to draw a line (a lone bucket would be invisible).
    const points = { show: (u: uPlot) => u.data[0].length < 3 };
    series.push({ label: l.label, stroke: l.color, width: 1.5, value, points });
    if (l.band) {
      const edge = { stroke: withAlpha(l.color, 0.25), width: 0.5, value, class: 'band-edge', points: { show: false } };
      series.push({ ...edge, label: `${l.label} max` }, { ...edge, label: `${l.label} min` });
      const n = series.length;
      bands.push({ series: [n - 2, n - 1], fill: withAlpha(l.color, 0.15) });
    }
  }
  const yRange: uPlot.Scale['range'] = spec.yRange
    ? spec.yRange
    : (_u, _min, max) => uPlot.rangeNum(0, max > 0 ? max : 1, 0.1, true);
  return {
    width,
    height: spec.height ?? DEFAULT_HEIGHT,
    series,
    bands,
    scales: { x: { time: true }, y: { range: yRange } },
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        size: Y_AXIS_WIDTH,
        values: (_u, splits) => splits.map((v) => spec.yFmt(v)),
        ...(spec.bytes ? { incrs: BYTE_INCRS } : {}),
      },
    ],
    cursor: spec.syncKey ? { sync: { key: spec.syncKey } } : {},
    legend: { live: true },
  };
}

export class TimeChart {
  private plot: uPlot | null = null;
  private data: uPlot.AlignedData;
  private width = 0;
  private readonly ro: ResizeObserver;

  constructor(
    readonly el: HTMLElement,
    private spec: ChartSpec,
  ) {
    this.data = emptyData(spec);
    this.build();
    // Follow the container's width; ignore height changes (our own legend).
    this.ro = new ResizeObserver(() => {
      const w = this.el.clientWidth;
      if (w > 0 && w !== this.width && this.plot) {
        this.width = w;
        this.plot.setSize({ width: w, height: this.spec.height ?? DEFAULT_HEIGHT });
      }
    });
    this.ro.observe(el);
    charts.add(this);
  }

  private build(): void {
    this.plot?.destroy();
    // Hidden tabs have width 0; the ResizeObserver fixes it once shown.
    this.width = this.el.clientWidth;
    this.plot = new uPlot(buildOptions(this.spec, this.width || 600), this.data, this.el);
    this.el.dataset.points = String(this.data[0].length);
  }

  /** Replace the series layout (e.g. core count changed). Keeps no data. */
  setSpec(spec: ChartSpec): void {
    this.spec = spec;
    this.data = emptyData(spec);
    this.build();
  }

  get lineCount(): number {
    return this.spec.lines.length;
  }

  /** x in seconds; one column per uPlot series (band lines take three: mean, max, min).
   *  `xRange` (seconds) pins the x axis to the queried window instead of the data's extent. */
  setData(x: number[], columns: Column[], xRange?: [number, number]): void {
    this.data = [x, ...columns] as uPlot.AlignedData;
    this.plot?.setData(this.data);
    if (xRange) {
      this.plot?.setScale('x', { min: xRange[0], max: xRange[1] });
      this.el.dataset.xMin = String(xRange[0]);
      this.el.dataset.xMax = String(xRange[1]);
    }
    this.el.dataset.points = String(x.length);
    this.el.dataset.lastX = x.length > 0 ? String(x[x.length - 1]) : '';
  }

  /** Re-create with current theme colours, keeping data. */
  rebuild(): void {
    this.build();
  }

  destroy(): void {
    this.ro.disconnect();
    this.plot?.destroy();
    this.plot = null;
    charts.delete(this);
  }
}

function emptyData(spec: ChartSpec): uPlot.AlignedData {
  const cols = spec.lines.reduce((n, l) => n + (l.band ? 3 : 1), 0);
  return [[], ...Array.from({ length: cols }, () => [])] as uPlot.AlignedData;
}

/** Rebuild every chart when the OS switches light/dark. */
export function watchColorScheme(): void {
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    for (const c of charts) c.rebuild();
  });
}

/** Distinct colours for per-core lines. */
export function coreColor(i: number, n: number): string {
  const hue = Math.round((i * 360) / Math.max(n, 1) + 200) % 360;
  return `hsl(${hue}, 65%, 55%)`;
}

export const COLORS = {
  cpu: '#3b82f6',
  mem: '#8b5cf6',
  swap: '#f59e0b',
  read: '#10b981',
  write: '#ef4444',
  rx: '#06b6d4',
  tx: '#f97316',
  load: '#6366f1',
};

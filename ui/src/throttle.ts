export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
}

const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
};

/**
 * Coalescing scheduler: `schedule()` may be called any number of times;
 * `fn` runs at most once per `intervalMs`, and always after the last call
 * (trailing edge), so the final state is never lost. The first call after a
 * quiet period runs on the next tick (no artificial delay).
 */
export function throttle(fn: () => void, intervalMs: number, timers: Timers = realTimers): () => void {
  let pending = false;
  let lastRun = -Infinity;
  const run = () => {
    pending = false;
    lastRun = timers.now();
    fn();
  };
  return () => {
    if (pending) return;
    pending = true;
    const wait = Math.max(0, lastRun + intervalMs - timers.now());
    timers.setTimeout(run, wait);
  };
}

/**
 * Drops redraws nobody can see. While hidden (another tab, or the window minimised),
 * `request()` only remembers that something changed; showing again asks for one redraw.
 * Data keeps flowing into the view's buffers either way, so nothing is lost.
 */
export class DrawGate {
  private visible = true;
  private dirty = false;

  constructor(private readonly schedule: () => void) {}

  request(): void {
    if (this.visible) this.schedule();
    else this.dirty = true;
  }

  setVisible(visible: boolean): void {
    this.visible = visible;
    if (visible && this.dirty) {
      this.dirty = false;
      this.schedule();
    }
  }
}

import { performance } from "node:perf_hooks";

/** How often the event loop's delay is sampled. */
const TICK_MS = 100;
/** A delay seen within this long still counts: the loop must keep up this long before it is called caught up. */
const REMEMBER_MS = 1_000;

/**
 * The gateway's event-loop delay, its own measure of overload. A timer every TICK_MS notes how
 * late it ran; the lag is the largest of those within REMEMBER_MS, or the time since the last tick
 * when that is larger (a turn still running: a burst of upgrades read in one turn sees it grow).
 *
 * Why a gateway needs it: its own clients' pongs are read in the same event loop as new clients'
 * handshakes. In a reconnect storm on a starved machine (a kill -9 at 250,000 connections on 2
 * cores, docs/scale.md) turns grew long enough that pongs were read after their time-out, and the
 * survivors dropped 101,549 of their own clients, who then joined the storm.
 */
export class LoopLag {
  private last = performance.now();
  private worst = 0;
  private worstAt = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - this.last - TICK_MS);
      this.last = now;
      if (late >= this.worst || now - this.worstAt > REMEMBER_MS) {
        this.worst = late;
        this.worstAt = now;
      }
    }, TICK_MS);
    this.timer.unref();
  }

  /** The delay now, in ms. */
  ms(): number {
    const now = performance.now();
    const running = now - this.last - TICK_MS;
    const recent = now - this.worstAt <= REMEMBER_MS ? this.worst : 0;
    return Math.max(0, running, recent);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

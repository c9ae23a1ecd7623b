import { AppError } from "../../shared/contract/errors";

/**
 * Runs at most `concurrency` jobs at once; up to `maxWaiting` more wait their turn in order. A job
 * beyond that is refused at once with 503 `unavailable` and a Retry-After estimated from recent
 * job times, instead of queueing until some time-out upstream fires (load shedding).
 */
export class BoundedQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Moving average of a job's duration, for Retry-After. */
  private averageMs = 100;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
    private readonly what: string,
  ) {}

  get size(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) {
        const seconds = ((this.waiting.length / this.concurrency + 1) * this.averageMs) / 1000;
        throw new AppError("unavailable", 503, `Too many ${this.what} requests at once; try again shortly`, {}, Math.max(1, Math.ceil(seconds)));
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    const started = performance.now();
    try {
      return await job();
    } finally {
      this.averageMs = this.averageMs * 0.8 + (performance.now() - started) * 0.2;
      // Hand the slot straight to the next waiter (running stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}

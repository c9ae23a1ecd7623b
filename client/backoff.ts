/**
 * Jittered exponential back-off: after an outage every client of a gateway comes back at once,
 * and spreading their retries keeps the survivors from being hit by one synchronized wave.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
  ) {}

  /** The next delay: a random point in the upper half of base·2^attempt, capped. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  reset(): void {
    this.attempt = 0;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Many callers' requests answered by one database statement: what arrives while statements are in
 * flight goes out together in the next one, so under load one round trip (and one commit) serves
 * many callers, and without load a request goes out on the next turn of the event loop. Nothing is
 * cached: every request is read or written by a statement that began after it arrived.
 */
/** How a batched statement's callers may pace it (the defaults are each caller's). */
export type StatementPacing = Partial<Pick<BatcherOptions<unknown, unknown>, "maxInFlight" | "maxBatch" | "minIntervalMs">>;

export interface BatcherOptions<T, R> {
  /**
   * Runs one batch; answers each request by index (an Error rejects that request alone). A throw
   * rejects the whole batch with it.
   */
  run(items: T[]): Promise<(R | Error)[]>;
  /** Statements in flight at once (the rest of the pool stays free for other work). Default 2. */
  maxInFlight?: number;
  /** Requests per statement. Default 500. */
  maxBatch?: number;
  /**
   * The least time between the starts of two statements, in ms. Default 0. Under load the next
   * statement then waits out the interval and carries everything that arrived meanwhile; a request
   * that finds no statement begun within the interval still goes out on the next turn.
   */
  minIntervalMs?: number;
  /**
   * With an interval: this many requests waiting go out at once, without waiting it out (the
   * interval is there to make small statements bigger; one this big gains nothing by waiting).
   * Default: no such size.
   */
  enoughToGo?: number;
}

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export class Batcher<T, R> {
  private queue: Pending<T, R>[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** The timer that waits out the interval, while one does. */
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private readonly minIntervalMs: number;
  private readonly enoughToGo: number;
  private lastStart = -Infinity;
  private readonly runBatch: (items: T[]) => Promise<(R | Error)[]>;

  constructor(options: BatcherOptions<T, R>) {
    this.runBatch = options.run;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 500;
    this.minIntervalMs = options.minIntervalMs ?? 0;
    this.enoughToGo = options.enoughToGo ?? Infinity;
  }

  /** Requests waiting for a statement (not yet sent). */
  get waiting(): number {
    return this.queue.length;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /**
   * `now`: a statement just answered, and what waits went out while it ran: it goes out at once
   * (unless the interval says wait), before the answered requests' callers run.
   */
  private schedule(now = false): void {
    if (this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    const enough = this.queue.length >= this.enoughToGo;
    if (this.scheduled) {
      // Waiting out the interval, and now enough are waiting: they go on the next turn instead.
      if (!enough || this.timer === undefined) return;
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const wait = enough ? 0 : this.lastStart + this.minIntervalMs - performance.now();
    if (now && wait < 1) {
      this.scheduled = false;
      return this.flush();
    }
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.timer = undefined;
      this.flush();
    };
    // What arrives in this turn of the event loop (or, within the interval, until it is over) goes in one statement.
    if (wait >= 1) this.timer = setTimeout(go, wait);
    else setImmediate(go);
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
      this.inFlight += 1;
      this.lastStart = performance.now();
      void this.send(batch);
      if (this.minIntervalMs > 0) break;
    }
    this.schedule();
  }

  /**
   * A statement answered: the next one (what arrived meanwhile) starts before this one's callers
   * run, so the database works on it while they do. It began after this one ended, so the order of
   * their effects is still the order of their requests.
   */
  private answered(): void {
    this.inFlight -= 1;
    this.schedule(true);
  }

  private async send(batch: Pending<T, R>[]): Promise<void> {
    let results: (R | Error)[];
    try {
      results = await this.runBatch(batch.map((p) => p.item));
    } catch (err) {
      this.answered();
      for (const p of batch) p.reject(err);
      return;
    }
    this.answered();
    batch.forEach((p, k) => {
      if (k >= results.length) return p.reject(new Error("batch answered fewer requests than it was given"));
      const result = results[k] as R | Error;
      if (result instanceof Error) p.reject(result);
      else p.resolve(result);
    });
  }
}

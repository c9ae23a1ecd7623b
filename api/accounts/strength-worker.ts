import { Worker } from "node:worker_threads";
import { AppError, type PasswordFeedback } from "../../shared/contract/errors";

/** What zxcvbn reports, as the contract's `feedback`. */
export type StrengthFeedback = PasswordFeedback;

interface Job {
  resolve: (f: StrengthFeedback) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface StrengthCheckerOptions {
  /** Checks waiting or running at once; beyond that a check is refused at once (503). Default 32. */
  maxPending?: number;
  /** A check not answered within this is given up (503) and the worker restarted. Default 5 s. */
  timeoutMs?: number;
}

const unavailable = (why: string, retryAfter = 1) => new AppError("unavailable", 503, why, {}, retryAfter);

// The worker is given as source (eval) so it runs the same from the TypeScript sources under
// vitest and from dist/, with zxcvbn resolved to an absolute path.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const zxcvbn = require(${JSON.stringify(require.resolve("zxcvbn"))});
parentPort.on("message", ({ id, password, inputs }) => {
  try {
    const r = zxcvbn(password, inputs);
    parentPort.postMessage({ id, score: r.score, warning: r.feedback.warning, suggestions: r.feedback.suggestions });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});`;

/**
 * zxcvbn off the event loop. Its cost grows steeply with length and symbol density (hundreds of
 * milliseconds for some 64-character strings), which on the main thread would stall every other
 * request and socket of the process. One worker, started on first use, restarted if it dies.
 * Its queue is bounded and every check has a time-out: a burst or a pathological input gets 503
 * `unavailable` quickly instead of a growing wait.
 */
export class StrengthChecker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private readonly maxPending: number;
  private readonly timeoutMs: number;

  constructor(options: StrengthCheckerOptions = {}) {
    this.maxPending = options.maxPending ?? 32;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (m: { id: number; error?: string } & StrengthFeedback) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      clearTimeout(job.timer);
      if (m.error) job.reject(new Error(m.error));
      else job.resolve({ score: m.score, warning: m.warning, suggestions: m.suggestions });
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`strength worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  private failAll(err: Error): void {
    for (const job of this.jobs.values()) {
      clearTimeout(job.timer);
      job.reject(err);
    }
    this.jobs.clear();
  }

  check(password: string, inputs: string[]): Promise<StrengthFeedback> {
    if (this.jobs.size >= this.maxPending) return Promise.reject(unavailable("Too many password checks at once; try again shortly"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // The worker is stuck on one input (the jobs behind it wait too): restart it and let the
      // callers retry, rather than let the queue grow behind it.
      const timer = setTimeout(() => {
        const stuck = this.worker;
        this.worker = undefined;
        this.failAll(unavailable("The password check took too long; try again shortly"));
        void stuck?.terminate();
      }, this.timeoutMs);
      timer.unref();
      this.jobs.set(id, { resolve, reject, timer });
      this.ensure().postMessage({ id, password, inputs });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll(unavailable("The service is stopping"));
    await w?.terminate();
  }
}

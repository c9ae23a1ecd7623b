import { Worker } from "node:worker_threads";

/** What zxcvbn reports, as the contract's `feedback`. */
export interface StrengthFeedback {
  score: number;
  warning: string;
  suggestions: string[];
}

interface Job {
  resolve: (f: StrengthFeedback) => void;
  reject: (e: Error) => void;
}

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
 */
export class StrengthChecker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on("message", (m: { id: number; error?: string } & StrengthFeedback) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      if (m.error) job.reject(new Error(m.error));
      else job.resolve({ score: m.score, warning: m.warning, suggestions: m.suggestions });
    });
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const job of this.jobs.values()) job.reject(err);
      this.jobs.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`strength worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }

  check(password: string, inputs: string[]): Promise<StrengthFeedback> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      this.ensure().postMessage({ id, password, inputs });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}

/**
 * Parent/child plumbing for the benchmark: every server and load generator is a forked Node
 * process (run through tsx) answering commands over the IPC channel. Every wait is bounded.
 */
import { type ChildProcess, fork } from "node:child_process";
import { resolve } from "node:path";

export interface Child {
  name: string;
  proc: ChildProcess;
  info: Record<string, unknown>;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop, then kills it (SIGKILL) if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** The last few KiB the child wrote to stderr (for failures). */
  stderrTail(): string;
}

const live = new Set<Child>();

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Extra Node flags (e.g. --expose-gc, --cpu-prof). */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
}

export async function spawnChild(name: string, file: string, options: SpawnOptions = {}): Promise<Child> {
  const proc = fork(resolve(file), [], {
    // BENCH_NODE_FLAGS: more Node flags for every child (an investigation: --perf-basic-prof-only-functions).
    execArgv: ["--import", "tsx", ...(options.nodeFlags ?? []), ...(process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? [])],
    env: { ...process.env, ...options.env, BENCH_CHILD_NAME: name },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let tail = "";
  proc.stderr?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4096);
  });
  // A send on a channel that closed meanwhile (a child killed by a signal handler) is reported as an
  // 'error' event, which would end this process; the call's own timeout or the exit handler answers.
  proc.on("error", (err: Error) => {
    tail = `${tail}\n[parent] ${err.message}`.slice(-4096);
  });
  let seq = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  let exited = proc.exitCode !== null;
  const exitPromise = new Promise<void>((res) => proc.once("exit", () => res()));
  proc.once("exit", (code, signal) => {
    exited = true;
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${name} exited (${code ?? signal}) during a call; stderr: ${tail.slice(-800)}`));
    }
    pending.clear();
  });
  const ready = new Promise<Record<string, unknown>>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} not ready within ${options.readyTimeoutMs ?? 60_000} ms; stderr: ${tail.slice(-800)}`)), options.readyTimeoutMs ?? 60_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited (${code}) before ready; stderr: ${tail.slice(-800)}`));
    });
    proc.on("message", (msg: any) => {
      if (msg && msg.ready) {
        clearTimeout(timer);
        res(msg.info ?? {});
      } else if (msg && typeof msg.id === "number") {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${name}: ${msg.error}`));
      }
    });
  });
  const child: Child = {
    name,
    proc,
    info: {},
    call<T>(cmd: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
      if (exited) return Promise.reject(new Error(`${name} has exited; stderr: ${tail.slice(-800)}`));
      const id = ++seq;
      return new Promise<T>((res, rej) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          rej(new Error(`${name}: ${cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: res as (v: unknown) => void, reject: rej, timer });
        proc.send({ id, cmd, args });
      });
    },
    async stop(graceMs = 8_000) {
      live.delete(child);
      if (exited) return;
      try {
        if (proc.connected) proc.send({ id: -1, cmd: "stop" });
      } catch {
        // channel already closed
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exitPromise, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      if (!exited) {
        proc.kill("SIGKILL");
        await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2_000))]);
      }
    },
    stderrTail: () => tail,
  };
  live.add(child);
  try {
    child.info = await ready;
  } catch (err) {
    proc.kill("SIGKILL");
    live.delete(child);
    throw err;
  }
  return child;
}

/** Stops every child still running (the end of a run, or a failure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop(5_000)));
}

/** Kills every child at once (signal handlers: no waiting). */
export function killAll(): void {
  for (const c of live) c.proc.kill("SIGKILL");
  live.clear();
}

/**
 * In a child: answers the parent's commands with `handlers`, exits when told to stop or when the
 * parent goes away (no orphans).
 */
export function serve(handlers: Record<string, (args: any) => Promise<unknown> | unknown>, onStop: () => Promise<void> = async () => undefined): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(0), 5_000);
    force.unref();
    onStop()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on("disconnect", stop);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("message", (msg: any) => {
    if (!msg || typeof msg.cmd !== "string") return;
    if (msg.cmd === "stop") return stop();
    const handler = handlers[msg.cmd];
    if (!handler) return process.send?.({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
    Promise.resolve()
      .then(() => handler(msg.args))
      .then(
        (result) => process.send?.({ id: msg.id, ok: true, result }),
        (err: unknown) => process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** socket.io-client's delay before its `n`-th attempt again (from 0): 1 s, doubling up to 5 s, ±50 % at random. */
export const backoffMs = (n: number) => Math.min(1_000 * 2 ** n, 5_000) * (0.5 + Math.random());

/**
 * Runs `attempt` once and, while it throws, up to `retries` times more after socket.io-client's
 * back-off, as a stock client reconnects. Each failure is counted by `keyOf` of its error: in
 * `counts.retried` when another attempt follows, else in `counts.errors`. True once one succeeded.
 */
export async function withRetries(
  retries: number,
  attempt: () => Promise<void>,
  counts: { errors: Record<string, number>; retried: Record<string, number> },
  keyOf: (err: Error) => string = (err) => err.message,
): Promise<boolean> {
  for (let n = 0; n <= retries; n += 1) {
    if (n > 0) await sleep(backoffMs(n - 1));
    try {
      await attempt();
      return true;
    } catch (err) {
      const key = keyOf(err as Error);
      const into = n < retries ? counts.retried : counts.errors;
      into[key] = (into[key] ?? 0) + 1;
    }
  }
  return false;
}

/**
 * Driving the load generators (lib/client-proc.ts) from the runner's side: connect a list of users
 * to a server over every generator at once, close them, and wait for the server to see it.
 */
import { type Child, sleep } from "./ipc";

/** Load generators, one loopback source address each (127.0.0.2–5). */
export const CLIENTS = 4;
/** Handshakes in flight per generator: 100 in all. */
export const PER_CLIENT_CONCURRENCY = 25;

/** The load sessions the handshake and memory phases use (`ctx.load`): users spread over chats, each joined in its handshake. */
export const LOAD = { sessions: 20_000, chats: 200 };

/**
 * Our gateway's posting limit and per-socket event budget raised, for the phases that send thousands
 * of messages per second from a few users (cluster saturation, stored, fan-out, presence's gateways).
 */
export const RAISED_LIMITS = { MESSAGE_LIMIT_PER_USER: "1000000", SOCKET_EVENT_BURST: "100000", SOCKET_EVENT_RATE: "100000" };

/** A user to connect: its token, and the chat its socket joins in the handshake, if any. */
export interface LoadItem {
  token: string;
  chat?: string | undefined;
}

/** `xs` dealt round-robin into `n` parts. */
export const split = <T>(xs: T[], n: number): T[][] => Array.from({ length: n }, (_, k) => xs.filter((_, i) => i % n === k));

export interface ConnectResult {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  /** Failures that were tried again (`retries`), by message. */
  retriedErrors: Record<string, number>;
  seconds: number;
  rate: number;
  p50: number;
}

/**
 * Connects `items` to `url` over every generator, `PER_CLIENT_CONCURRENCY` at a time each; `keep`:
 * hold them open; `retries`: a failed connect is tried again that many times after the client's
 * back-off (lib/client-proc.ts).
 */
export async function connectAll(clients: Child[], url: string, items: LoadItem[], keep = true, retries = 0): Promise<ConnectResult> {
  const parts = split(items, clients.length);
  const started = Date.now();
  const res = await Promise.all(
    clients.map((c, k) =>
      c.call<{ ok: number; failed: number; errors: Record<string, number>; retriedErrors: Record<string, number>; started: number; ended: number; p50: number; p99: number }>(
        "connect",
        { url, items: parts[k], concurrency: PER_CLIENT_CONCURRENCY, keep, retries },
        180_000,
      ),
    ),
  );
  const ended = Math.max(...res.map((r) => r.ended));
  const ok = res.reduce((a, r) => a + r.ok, 0);
  const failed = res.reduce((a, r) => a + r.failed, 0);
  const sum = (pick: (r: (typeof res)[number]) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of res) for (const [k, v] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const begun = Math.min(...res.map((r) => r.started), started);
  return { ok, failed, errors: sum((r) => r.errors), retriedErrors: sum((r) => r.retriedErrors), seconds: (ended - begun) / 1000, rate: ok / ((ended - begun) / 1000), p50: Math.max(...res.map((r) => r.p50)) };
}

/**
 * Closes the generators' sockets (only those to `only.url` if given), then waits (bounded) until
 * none is left on any of `servers`.
 */
export async function closeAll(clients: Child[], servers: Child[], only?: { url: string }): Promise<void> {
  await Promise.all(clients.map((c) => c.call("closeAll", only, 60_000)));
  for (const server of servers) for (let i = 0; i < 100 && (await server.call<number>("sockets")) > 0; i += 1) await sleep(100);
}

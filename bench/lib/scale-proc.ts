/**
 * A light load generator for the scale phase (bench/phases/scale.ts), in its own process: up to
 * about 18,000 authenticated connections on lib/raw-socket.ts (Engine.IO 4 / Socket.IO 5 over a
 * plain TCP socket, WebSocket transport: the upgrade, the open packet, the connect with `auth`,
 * ping → pong, acks), unbound (or from BENCH_LOCAL_ADDRESS), each to one of its gateway's
 * addresses (`setUrls`: a list per gateway, picked by the connection's number). A stock
 * socket.io-client socket costs more memory on the client side than a connection costs the server,
 * so 250,000 of them would not fit beside the servers on one machine.
 *
 * Each connection keeps only what the phase reads back: its gateway, when it went down, whether it
 * was told its session ended, and (while asked) the broadcast messages and presence leaves it saw.
 * Commands (IPC): `setUrls`, `connect`, `join`, `send`, `status`, `gone`, `broadcastStart`,
 * `broadcastResult`, `watchLeaves`, `leaves`, `stormArm`, `storm`, `mem`, `closeAll`.
 */
import { performance } from "node:perf_hooks";
import { CONNECT_TIMEOUT_MS } from "../../client/connect-timeout";
import { connectRaw, type RawSocketIo } from "./raw-socket";
import { backoffMs, serve, sleep, withRetries } from "./ipc";

const localAddress = process.env.BENCH_LOCAL_ADDRESS || undefined;
/** Milliseconds since the epoch with sub-millisecond precision (the same clock in every process here). */
const now = () => performance.timeOrigin + performance.now();

interface Item {
  /** The connection's number in the whole run. */
  i: number;
  token: string;
  chat: string;
  userId: string;
  gw: number;
}

interface Conn {
  item: Item;
  gw: number;
  raw: RawSocketIo | undefined;
  /** When the connection went down (TCP closed or a Socket.IO disconnect packet came), if it did. */
  goneAt: number | undefined;
  /** Whether `session:ended` came before it went down. */
  ended: boolean;
  acks: Map<number, (text: string) => void> | undefined;
}

/** Each gateway's addresses (bench/lib/server-proc.ts BENCH_ALSO_LISTEN): a connection takes one by its number. */
let urls: string[][] = [];
const conns = new Map<number, Conn>();
/** Connections lost on a gateway that was not killed, by gateway. */
const dropped: Record<number, number> = {};
/** Gateways whose connections are expected to go (a kill -9): their losses are the storm's. */
const dying = new Set<number>();
let closing = false;

/**
 * The broadcast being counted: its marker, each receipt's latency from the send stamped in its
 * text, and the receipts a connection already had (a message delivered twice), by gateway.
 */
let broadcast: { marker: string; latencies: number[]; seen: Set<string>; duplicates: Record<number, number> } | undefined;
/** User ids whose presence:leave is awaited, and when the first one for each arrived. */
let leaveWatch: Map<string, number> | undefined;
/** While leaves are watched: every (connection, chat, user) leave received, and how many came again. */
let leavesSeen = new Set<string>();
let leaveRepeats = 0;

/**
 * This process's own event-loop delay: a 100 ms timer's lateness, the worst since `stormArm` and how
 * many ticks were later than 1 s and 5 s (a client here whose loop is late reads its answers late,
 * and its time-outs fire first).
 */
const lag = { worst: 0, over1s: 0, over5s: 0, ticks: 0 };
let lagExpected = performance.now() + 100;
setInterval(() => {
  const late = performance.now() - lagExpected;
  lagExpected = performance.now() + 100;
  lag.ticks += 1;
  lag.worst = Math.max(lag.worst, late);
  if (late > 1_000) lag.over1s += 1;
  if (late > 5_000) lag.over5s += 1;
}, 100).unref();

interface Storm {
  gw: number;
  survivors: number[];
  lost: number;
  away: number;
  back: number[];
  attempts: number;
  failures: Record<string, number>;
  stayAwayEvery: number;
}
let storm: Storm | undefined;

/** Events received by name since the last broadcastStart or stormArm (what the gateways were busy sending). */
let received = new Map<string, number>();
const eventName = (text: string) => (text.startsWith('42["') ? text.slice(4, text.indexOf('"', 4)) : text.slice(0, 2));

function onText(conn: Conn, text: string): void {
  const name = eventName(text);
  received.set(name, (received.get(name) ?? 0) + 1);
  if (text.startsWith("43")) {
    const bracket = text.indexOf("[");
    const id = Number(text.slice(2, bracket));
    const done = conn.acks?.get(id);
    if (done) {
      conn.acks!.delete(id);
      done(text.slice(bracket));
    }
    return;
  }
  if (text === "41" || text.startsWith("41")) return down(conn);
  if (!text.startsWith("42")) return;
  if (broadcast && text.startsWith('42["message:new"')) {
    const at = text.indexOf(`bcast:${broadcast.marker}:`);
    if (at >= 0) {
      const sentAt = Number.parseFloat(text.slice(at + broadcast.marker.length + 7));
      const key = `${conn.item.i}:${sentAt}`;
      if (broadcast.seen.has(key)) broadcast.duplicates[conn.gw] = (broadcast.duplicates[conn.gw] ?? 0) + 1;
      else {
        broadcast.seen.add(key);
        broadcast.latencies.push(now() - sentAt);
      }
    }
  } else if (text.startsWith('42["session:ended"')) conn.ended = true;
  else if (leaveWatch && text.startsWith('42["presence:leave"')) {
    const [, payload] = JSON.parse(text.slice(2)) as [string, { chat_id: string; user_id: string }];
    if (leaveWatch.has(payload.user_id) && leaveWatch.get(payload.user_id) === 0) leaveWatch.set(payload.user_id, now());
    // The same leave (chat, user) to the same connection more than once: a repeat announcement.
    const key = `${conn.item.i} ${payload.chat_id} ${payload.user_id}`;
    if (leavesSeen.has(key)) leaveRepeats += 1;
    else leavesSeen.add(key);
  }
}

/** The connection is gone (once): a drop, part of a storm, or the end of a revoked session. */
function down(conn: Conn): void {
  if (conn.goneAt !== undefined) return;
  conn.goneAt = now();
  conn.raw?.destroy();
  if (closing) return;
  if (storm && conn.gw === storm.gw) {
    storm.lost += 1;
    if (conn.item.i % storm.stayAwayEvery === 0) storm.away += 1;
    else void reconnect(conn, storm);
    return;
  }
  if (!dying.has(conn.gw) && !conn.ended) dropped[conn.gw] = (dropped[conn.gw] ?? 0) + 1;
}

/** Opens `conn` to gateway `gw`; rejects with the refusal's text. */
async function open(conn: Conn, gw: number, timeoutMs: number): Promise<void> {
  const addresses = urls[gw]!;
  const raw = await connectRaw(addresses[conn.item.i % addresses.length]!, conn.item.token, {
    ...(localAddress ? { localAddress } : {}),
    timeoutMs,
    auth: { chat_id: conn.item.chat },
    onText: (text) => onText(conn, text),
  });
  conn.raw = raw;
  conn.gw = gw;
  conn.goneAt = undefined;
  conn.ended = false;
  void raw.closed.then(() => {
    if (conn.raw === raw) down(conn);
  });
}

/**
 * How long a storm's connect waits before it gives up and tries again: the typed client's connect
 * time-out (60 s) unless SCALE_CONNECT_TIMEOUT sets another, in seconds (20 is a stock
 * socket.io-client's; the scale phase checks the value).
 */
const STORM_CONNECT_TIMEOUT_MS = process.env.SCALE_CONNECT_TIMEOUT ? Number(process.env.SCALE_CONNECT_TIMEOUT) * 1000 : CONNECT_TIMEOUT_MS;

/**
 * socket.io-client's reconnection (the typed client leaves a lost transport to it): the first
 * attempt after 1 s, then doubling up to 5 s, each ±50 % at random. The address is a surviving
 * gateway's (behind nginx the same address would reach one).
 */
async function reconnect(conn: Conn, s: Storm): Promise<void> {
  for (let attempt = 0; attempt < 30 && !closing; attempt += 1) {
    await sleep(backoffMs(attempt));
    s.attempts += 1;
    const gw = s.survivors[(conn.item.i + attempt) % s.survivors.length]!;
    try {
      await open(conn, gw, STORM_CONNECT_TIMEOUT_MS);
      s.back.push(now());
      return;
    } catch (err) {
      const key = (err as Error).message.slice(0, 120);
      s.failures[key] = (s.failures[key] ?? 0) + 1;
    }
  }
}

/** An event with an ack on `conn`: the ack's payload text, or rejects after `timeoutMs`. */
function ask(conn: Conn, event: string, payload: unknown, timeoutMs = 20_000): Promise<string> {
  const raw = conn.raw;
  if (!raw || conn.goneAt !== undefined) return Promise.reject(new Error("not connected"));
  return new Promise((resolve, reject) => {
    const id = raw.emit(event, payload);
    const timer = setTimeout(() => {
      conn.acks?.delete(id);
      reject(new Error("ack timeout"));
    }, timeoutMs);
    (conn.acks ??= new Map<number, (text: string) => void>()).set(id, (text: string) => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** Runs `fn` over `xs`, `concurrency` at a time. */
async function pool<T>(xs: T[], concurrency: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, xs.length) }, async () => {
      while (next < xs.length) await fn(xs[next++]!);
    }),
  );
}

serve(
  {
    /** Each gateway's address, or its list of addresses. */
    setUrls(args: { urls: (string | string[])[] }) {
      urls = args.urls.map((u) => (typeof u === "string" ? [u] : u));
    },

    /**
     * Opens every item's connection to its gateway, `concurrency` at a time. A connect refused or
     * timed out is tried again up to `retries` times after socket.io-client's back-off (1 s, then
     * doubling up to 5 s, ±50 %), as a stock client would; `errors` counts the last failure of each
     * that never connected, `retriedErrors` every failure that was tried again, and the latencies
     * are each connection's last attempt.
     */
    async connect(args: { items: Item[]; concurrency: number; timeoutMs?: number; retries?: number }) {
      const errors: Record<string, number> = {};
      const retriedErrors: Record<string, number> = {};
      const latencies: number[] = [];
      let ok = 0;
      const started = now();
      const retries = args.retries ?? 0;
      await pool(args.items, args.concurrency, async (item) => {
        const conn: Conn = { item, gw: item.gw, raw: undefined, goneAt: undefined, ended: false, acks: undefined };
        await withRetries(
          retries,
          async () => {
            const t = now();
            await open(conn, item.gw, args.timeoutMs ?? 20_000);
            conns.set(item.i, conn);
            ok += 1;
            latencies.push(now() - t);
          },
          { errors, retried: retriedErrors },
          (err) => err.message.slice(0, 120),
        );
      });
      latencies.sort((a, b) => a - b);
      const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
      return { ok, failed: args.items.length - ok, errors, retriedErrors, started, ended: now(), p50: q(0.5), p99: q(0.99) };
    },

    /**
     * chat:join {chat} on the connections numbered `indices` (those here). A join answered with an
     * error (`unavailable` when the gateways' small PostgreSQL pools are busy) is tried again after a
     * pause, up to `rounds` times in all, as a client would; `errors` counts the last answer of each
     * that never joined, `retried` the joins that needed another round.
     */
    async join(args: { indices: number[]; chat: string; concurrency: number; rounds?: number }) {
      let errors: Record<string, number> = {};
      let ok = 0;
      let retried = 0;
      let todo = args.indices.map((i) => conns.get(i)).filter((c): c is Conn => c !== undefined && c.goneAt === undefined);
      const asked = todo.length;
      const rounds = Math.max(1, args.rounds ?? 3);
      for (let round = 0; round < rounds && todo.length > 0; round += 1) {
        if (round > 0) {
          retried += todo.length;
          await sleep(2_000 * round);
        }
        errors = {};
        const failed: Conn[] = [];
        await pool(todo, args.concurrency, async (conn) => {
          try {
            const answer = await ask(conn, "chat:join", { chat_id: args.chat });
            if (answer.includes('"ok":true')) ok += 1;
            else {
              failed.push(conn);
              errors[answer.slice(0, 80)] = (errors[answer.slice(0, 80)] ?? 0) + 1;
            }
          } catch (err) {
            failed.push(conn);
            errors[(err as Error).message] = (errors[(err as Error).message] ?? 0) + 1;
          }
        });
        todo = failed.filter((c) => c.goneAt === undefined);
      }
      return { asked, ok, retried, errors };
    },

    /** message:send from connection `i`: the ack's text. */
    async send(args: { i: number; chat: string; text: string }) {
      const conn = conns.get(args.i);
      if (!conn) throw new Error(`connection ${args.i} is not here`);
      return ask(conn, "message:send", { chat_id: args.chat, text: args.text.replace("{now}", String(now())) });
    },

    status() {
      const byGw: Record<number, number> = {};
      let open = 0;
      for (const c of conns.values()) {
        if (c.goneAt !== undefined) continue;
        open += 1;
        byGw[c.gw] = (byGw[c.gw] ?? 0) + 1;
      }
      return { held: conns.size, open, byGw, dropped: { ...dropped } };
    },

    /** When each of the connections numbered `indices` went down (null: still up), whether session:ended came first, and its gateway. */
    gone(args: { indices: number[] }) {
      return args.indices.filter((i) => conns.has(i)).map((i) => ({ i, gw: conns.get(i)!.gw, goneAt: conns.get(i)!.goneAt ?? null, ended: conns.get(i)!.ended }));
    },

    broadcastStart(args: { marker: string }) {
      broadcast = { marker: args.marker, latencies: [], seen: new Set(), duplicates: {} };
      received = new Map();
    },
    /** Each connection's first receipt of each message (its latency), and the repeats by gateway. */
    broadcastResult() {
      const latencies = broadcast?.latencies ?? [];
      const duplicates = broadcast?.duplicates ?? {};
      broadcast = undefined;
      return { n: latencies.length, latencies, duplicates, received: Object.fromEntries(received) };
    },

    watchLeaves(args: { userIds: string[] }) {
      leaveWatch = new Map(args.userIds.map((u) => [u, 0]));
      leavesSeen = new Set();
      leaveRepeats = 0;
    },
    leaves() {
      const seen = leaveWatch ? [...leaveWatch].filter(([, t]) => t > 0) : [];
      return Object.fromEntries(seen);
    },

    /**
     * Gateway `gw` is about to be killed: its connections reconnect to `survivors` as the stock
     * client would, except every `stayAwayEvery`-th, whose user stays away (presence must announce
     * its leave); connections lost elsewhere still count as dropped.
     */
    stormArm(args: { gw: number; survivors: number[]; stayAwayEvery: number }) {
      dying.add(args.gw);
      storm = { gw: args.gw, survivors: args.survivors, lost: 0, away: 0, back: [], attempts: 0, failures: {}, stayAwayEvery: args.stayAwayEvery };
      received = new Map();
      Object.assign(lag, { worst: 0, over1s: 0, over5s: 0, ticks: 0 });
    },
    storm() {
      if (!storm) return null;
      return { lost: storm.lost, away: storm.away, back: [...storm.back].sort((a, b) => a - b), attempts: storm.attempts, failures: storm.failures, dropped: { ...dropped }, received: Object.fromEntries(received), lag: { ...lag }, leaveRepeats };
    },

    /** This process's memory after a GC (with --expose-gc), and how many connections it holds open. */
    mem() {
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      let open = 0;
      for (const c of conns.values()) if (c.goneAt === undefined) open += 1;
      return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, open };
    },

    async closeAll() {
      closing = true;
      for (const c of conns.values()) c.raw?.destroy();
      conns.clear();
      closing = false;
      return { closed: true };
    },
  },
  async () => {
    closing = true;
    for (const c of conns.values()) c.raw?.destroy();
  },
);
process.send?.({ ready: true, info: { pid: process.pid, localAddress } });

/**
 * A server under test, in its own process (forked by bench/run.ts with --expose-gc):
 *   BENCH_MODE=ours  one gateway as bin/gateway.ts runs it: connectServices("gateway") and startGatewayServer
 *   BENCH_MODE=bare  a bare Socket.IO server: same version, path /ws, transports; accepts any connection
 *   BENCH_MODE=bare-chat  the same on `@socket.io/redis-adapter` (classic, on BENCH_REDIS_URL, a channel key of its
 *                    own: never crosses ours), answering `chat:join` and `message:send` as the contract says, minus
 *                    auth, storage and limits: join the room; build the message (an increasing id, created_at), emit
 *                    `message:new` to the room, ack it (the fan-out bench's baseline)
 *   BENCH_MODE=bare-store  bare-chat that also stores each message before it broadcasts and acks it: one plain INSERT
 *                    per message (a prepared statement, a table of its own in BENCH_DATABASE_URL, no session or
 *                    membership check): the least the contract's ack-after-store costs, beside bare and ours
 *   BENCH_MODE=api   one api replica as bin/api.ts runs it (production argon2 defaults): connectServices("api") and startApiServer
 *   BENCH_MODE=worker  the webhook worker as bin/worker.ts runs it: connectServices("worker") and startWorkerServer
 * Commands: `mem` (GC first, then memory, CPU time, sockets and open descriptors), `cpu`, `sockets`, `pool`, `shardChannels`,
 * `stats` (ours: `gateway.stats()`, the sizes of its per-socket, per-room and per-session state),
 * `syscalls` (read and write system calls so far), `timingStart` / `timing` (since the first: each upgrade's time
 * from its connection's accept, and the event loop's delay), `profileStart` / `profileStop {file}` (a V8 CPU profile of this process between the two, written to `file`: one
 * measured window rather than the whole run), `watch` / `watched` (ours: when and why one user's sockets disconnected, and what the gateway made
 * to send to them: packets, bytes, when what waited to be sent first passed SOCKET_MAX_BUFFERED_BYTES;
 * listeners are added only on `watch`, so other phases pay nothing), `stop`.
 * SOCKET_EVENT_BURST, SOCKET_EVENT_RATE, SOCKET_MAX_BUFFERED_BYTES, MESSAGE_LIMIT_PER_USER and
 * HANDSHAKE_MAX_LAG_MS (an A/B of the lag bound) in this process's environment reach the gateway's config (the attack bench raises the event budget of a
 * gateway of its own; the cluster bench raises the budget and the posting limit of both its pairs
 * alike); the values in effect are in the ready message's `info.limits`. WEBHOOK_ALLOW_PRIVATE reaches
 * the api's and the worker's (the webhooks bench registers and delivers to a receiver on loopback).
 * Redis: BENCH_REDIS_CLUSTER_NODES (host:port,…) puts the process on a Redis Cluster
 * (REDIS_CLUSTER_NODES), else BENCH_REDIS_URL is its one redis-server (REDIS_URL).
 * Logs go to /dev/null, or with BENCH_LOG_DIR to <dir>/<child name>.log (an investigation).
 * BENCH_ALSO_LISTEN (loopback addresses, comma-separated; bare and ours): the same server also takes
 * connections on these addresses at its port, and the ready message's `info.urls` lists every
 * address. The scale phase spreads a gateway's clients over them: Linux's connect() searches for a
 * free source port per destination address and port, and past about 14,000 connections to one
 * address:port each connect cost the load generators 0.7-0.8 ms of system time (17-36 µs below;
 * docs/scale.md). Production clients come from many addresses and never meet this.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join, resolve } from "node:path";
import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import pino from "pino";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import pg from "pg";
import { Server, type Socket } from "socket.io";
import { LIMITS } from "../../shared/contract/views";
import { listen } from "../../shared/process";
import { SOCKET_PATH } from "../../shared/contract/events";

/**
 * Our deployables' code as production runs it: the JavaScript `npm run build` compiled into dist/
 * (bench/run.ts builds it first), not the TypeScript sources through tsx. tsx's esbuild transform
 * differs from tsc's output where it costs per call (a `__name` call and a defineProperty for each
 * closure made, getters for every import), and the bare baselines run no TypeScript at all.
 */
const dist = process.env.BENCH_DIST_DIR ?? resolve(__dirname, "../../dist");
const load = <T>(path: string): T => require(join(dist, path)) as T;
const { startApiServer } = load<typeof import("../../api/server")>("api/server.js");
const { connectServices } = load<typeof import("../../bin/services")>("bin/services.js");
const { startGatewayServer } = load<typeof import("../../gateway/server")>("gateway/server.js");
const { startWorkerServer } = load<typeof import("../../api/webhooks/server")>("api/webhooks/server.js");
const { loadConfig } = load<typeof import("../../shared/config")>("shared/config.js");
const { createLogger } = load<typeof import("../../shared/logger")>("shared/logger.js");
import { procStat } from "./cpu-account";
import { serve, sleep } from "./ipc";
import { type SendWatch, type WatchedConn, watchSends } from "./send-watch";

const mode = process.env.BENCH_MODE;
/** A bare Socket.IO server of some kind (not one of our deployables). */
const bare = mode === "bare" || mode === "bare-chat" || mode === "bare-store";
const name = process.env.BENCH_CHILD_NAME ?? mode ?? "server";

async function main() {
  // The bare server's; ours are made by their start functions.
  const server = createServer();
  let sockets = () => 0;
  let close = async () => undefined as unknown;
  let stats: () => Record<string, number> = () => ({ sockets: sockets() });
  let userSockets: (userId: string) => number = () => 0;
  let watch: (userId: string) => void = () => {
    throw new Error(`watch: not a gateway (${mode})`);
  };
  const watched = {
    userId: undefined as string | undefined,
    connects: [] as number[],
    disconnects: [] as { at: number; reason: string; description?: string }[],
    sends: [] as SendWatch[],
  };
  let limits: Record<string, number> | undefined;
  let redisKind: string | undefined;
  /** Our servers' /metrics listener (production serves it on a port of its own). */
  let metricsUrl: string | undefined;
  let pool: () => { total: number; idle: number; waiting: number } | null = () => null;
  let shardChannels: () => { entries: number; distinct: number } | null = () => null;
  let port = 0;
  /** The HTTP server BENCH_ALSO_LISTEN's listeners feed (an api's or worker's takes none). */
  let httpServer: HttpServer | undefined = server;

  if (bare) {
    const io = new Server(server, { path: SOCKET_PATH, serveClient: false, maxHttpBufferSize: LIMITS.bodyBytes, transports: ["polling", "websocket"] });
    sockets = () => io.of("/").sockets.size;
    if (mode === "bare-chat" || mode === "bare-store") {
      const url = process.env.BENCH_REDIS_URL;
      if (!url) throw new Error(`${mode} needs BENCH_REDIS_URL`);
      const pub = new Redis(url, { connectionName: `bare-chat-${process.pid}:pub` });
      const sub = new Redis(url, { connectionName: `bare-chat-${process.pid}:sub` });
      io.adapter(createAdapter(pub, sub, { key: BARE_CHANNEL_KEY }));
      redisKind = "single";
      const store = mode === "bare-store" ? await bareStore(process.env.BENCH_DATABASE_URL) : undefined;
      io.on("connection", bareChat(io, store?.insert));
      close = async () => {
        await io.close();
        pub.disconnect();
        sub.disconnect();
        await store?.end();
      };
    } else {
      io.on("connection", () => undefined);
      close = () => io.close();
    }
  } else if (mode === "ours" || mode === "api" || mode === "worker") {
    const role = mode === "ours" ? "gateway" : mode;
    // Production refuses /metrics on the public port: a free loopback port of its own.
    const probe = createServer();
    const metricsPort = await listen(probe, 0, "127.0.0.1");
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    await new Promise((done) => probe.close(done));
    const config = loadConfig({
      dotenv: false,
      // The gateway holds the api's public key only, as in production (the worker neither).
      role,
      env: {
        NODE_ENV: "production",
        METRICS_PORT: String(metricsPort),
        DATABASE_URL: process.env.BENCH_DATABASE_URL,
        ...(process.env.BENCH_REDIS_CLUSTER_NODES
          ? { REDIS_CLUSTER_NODES: process.env.BENCH_REDIS_CLUSTER_NODES }
          : { REDIS_URL: process.env.BENCH_REDIS_URL }),
        ...(mode === "ours" ? { JWT_PUBLIC_KEYS: process.env.BENCH_JWT_PUBLIC_KEYS } : mode === "api" ? { JWT_PRIVATE_KEY: process.env.BENCH_JWT_PRIVATE_KEY } : {}),
        LOG_LEVEL: "info",
        LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
        LOGIN_MAX_FAILURES_PER_IP: "1000000",
        LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "1000000",
        ...Object.fromEntries(CHILD_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
      },
    });
    limits = {
      eventBurst: config.socketEvents.burst,
      eventsPerSecond: config.socketEvents.perSecond,
      maxBufferedBytes: config.socketMaxBufferedBytes,
      messagesPerUser: config.messages.maxPerUser,
      messageWindowSeconds: config.messages.window,
    };
    redisKind = config.redis?.kind;
    // Production log level, written where it costs what a pipe would but nobody reads it (or, with
    // BENCH_LOG_DIR, to a file of this child's).
    const logDir = process.env.BENCH_LOG_DIR;
    if (logDir) mkdirSync(logDir, { recursive: true });
    const dest = logDir ? join(logDir, `${name}.log`) : "/dev/null";
    // A log file opens synchronously: opened lazily, a child that failed at start threw "sonic boom
    // is not ready yet" from its exit flush instead of its own error.
    const logger = createLogger({ level: "info", name, destination: pino.destination({ fd: openSync(dest, "a"), sync: false }) });
    // The composition root's own wiring (bin/services.ts) and the deployable's start function.
    const services = await connectServices(config, logger, { role });
    pool = () => ({ total: services.pool.totalCount, idle: services.pool.idleCount, waiting: services.pool.waitingCount });
    const adapter = services.adapter;
    if (adapter?.sharded) {
      // ioredis's own list of the sharded channels to re-subscribe after a failover (an internal of ioredis 6: read only here).
      shardChannels = () => {
        const lists = (adapter.sub as unknown as { shardedSubscribers?: { channels?: Map<number, string[]> } }).shardedSubscribers?.channels;
        if (!lists) return null;
        const all = [...lists.values()].flat();
        return { entries: all.length, distinct: new Set(all).size };
      };
    }
    if (mode === "ours") {
      // Handshakes per address per minute: the default (600) would refuse the load generator; the limiter still runs.
      const running = await startGatewayServer({ ...services, config, logger, port: 0, host: "127.0.0.1", limits: { handshakesPerIpPerMinute: 100_000_000 } });
      const gateway = running.gateway;
      port = running.port;
      httpServer = gateway.io.httpServer as HttpServer;
      sockets = () => gateway.io.of("/").sockets.size;
      stats = () => gateway.stats();
      userSockets = (userId) => {
        let n = 0;
        for (const s of gateway.io.of("/").sockets.values()) if (s.data.userId === userId) n += 1;
        return n;
      };
      let watching = false;
      watch = (userId) => {
        watched.userId = userId;
        watched.connects = [];
        watched.disconnects = [];
        watched.sends = [];
        if (watching) return;
        watching = true;
        gateway.io.on("connection", (socket) => {
          if (socket.data.userId !== watched.userId) return;
          watched.connects.push(Date.now());
          watched.sends.push(watchSends(socket.conn as unknown as WatchedConn, config.socketMaxBufferedBytes));
          socket.on("disconnect", (reason, description) => {
            const d = description as { message?: string; description?: unknown } | undefined;
            watched.disconnects.push({ at: Date.now(), reason, ...(d ? { description: String(d.message ?? d.description ?? d) } : {}) });
          });
        });
      };
      close = async () => {
        await running.close();
        await services.close();
      };
    } else {
      const at = { ...services, config, logger, port: 0, host: "127.0.0.1" };
      const running = mode === "worker" ? await startWorkerServer(at) : await startApiServer(at);
      port = running.port;
      httpServer = undefined;
      close = async () => {
        await running.close();
        await services.close();
      };
    }
  } else {
    throw new Error(`BENCH_MODE must be ours, bare, bare-chat, bare-store, api or worker (got ${mode})`);
  }

  if (bare) port = await listen(server, 0, "127.0.0.1");
  const also = await alsoListen(httpServer, port, process.env.BENCH_ALSO_LISTEN);
  const upgrades = httpServer ? upgradeTiming(httpServer) : undefined;
  const closeServers = close;
  close = async () => {
    for (const extra of also.servers) extra.close();
    return closeServers();
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  serve(
    {
      /**
       * Memory after `collections` full collections (default 3: pending closes and timers settle, then weak
       * refs and finalizers go), and how long those collections took on this thread (`gcMs`).
       */
      async mem(args: { collections?: number } = {}) {
        const collections = Math.max(0, Math.min(3, Math.floor(args?.collections ?? 3)));
        let gcMs = 0;
        for (let i = 0; i < collections; i += 1) {
          const t0 = performance.now();
          gc?.();
          gcMs += performance.now() - t0;
          await sleep(100);
        }
        const m = process.memoryUsage();
        return {
          rss: m.rss,
          heapUsed: m.heapUsed,
          heapTotal: m.heapTotal,
          external: m.external,
          arrayBuffers: m.arrayBuffers,
          sockets: sockets(),
          fds: readdirSync("/proc/self/fd").length,
          cpu: process.cpuUsage(),
          gc: gc !== undefined,
          collections: gc ? collections : 0,
          gcMs,
          spaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size])),
        };
      },
      /** A V8 heap snapshot into `file`, after a full collection (bench/heap-diff.ts compares two). */
      heapSnapshot(args: { file: string }) {
        gc?.();
        return { file: writeHeapSnapshot(args.file), sockets: sockets() };
      },
      cpu: () => ({ cpu: process.cpuUsage(), sockets: sockets() }),
      /** CPU-seconds of each thread of this process by name (/proc/self/task: the main thread, V8's GC and compiler helpers, libuv's pool). */
      threads: () => threadCpu(),
      /** Read and write system calls of this process so far (/proc/self/io: sockets, pipes, files). */
      syscalls() {
        const io = readFileSync("/proc/self/io", "utf8");
        return { reads: Number(/^syscr: (\d+)/m.exec(io)?.[1]), writes: Number(/^syscw: (\d+)/m.exec(io)?.[1]) };
      },
      async profileStart(args: { intervalUs?: number } = {}) {
        if (profiler) throw new Error("a profile is already running");
        profiler = new Session();
        profiler.connect();
        await profiler.post("Profiler.enable");
        await profiler.post("Profiler.setSamplingInterval", { interval: args.intervalUs ?? 250 });
        await profiler.post("Profiler.start");
        return { started: Date.now() };
      },
      async profileStop(args: { file: string }) {
        if (!profiler) throw new Error("no profile running");
        const { profile } = await profiler.post("Profiler.stop");
        profiler.disconnect();
        profiler = undefined;
        writeFileSync(args.file, JSON.stringify(profile));
        return { file: args.file, samples: profile.samples?.length ?? 0 };
      },
      sockets: () => sockets(),
      /** The PostgreSQL pool: connections, idle ones, queries waiting for one (null for the bare server). */
      pool: () => pool(),
      /** Gateways on a Redis Cluster: entries in ioredis's list of sharded channels to re-subscribe, and distinct channels among them (null otherwise). */
      shardChannels: () => shardChannels(),
      stats: () => stats(),
      /** Starts counting afresh: each upgrade's time from its connection's accept, and the event loop's delay. */
      timingStart: () => upgrades?.start(),
      /** Since `timingStart`: upgrades and their time from accept (ms: p50, p99, max, how many over 20 s), the loop's delay (ms). */
      timing: () => upgrades?.read() ?? null,
      watch: (args: { userId: string }) => void watch(args.userId),
      watched: () => ({
        ...watched,
        connected: watched.userId === undefined ? 0 : userSockets(watched.userId),
      }),
    },
    async () => {
      await Promise.race([close(), sleep(4_000)]);
    },
  );
  process.send?.({ ready: true, info: { port, url: `http://127.0.0.1:${port}`, urls: [`http://127.0.0.1:${port}`, ...also.urls], pid: process.pid, ...(limits ? { limits } : {}), ...(redisKind ? { redis: redisKind } : {}), ...(metricsUrl ? { metricsUrl } : {}) } });
}

/**
 * Where a slow upgrade waits (the scale phase's storm): the time from a connection's accept (the HTTP
 * server's "connection", also for BENCH_ALSO_LISTEN's sockets) to its upgrade request being handed
 * on, and the event loop's delay meanwhile. Two listeners more on the server; nothing per socket kept
 * past its upgrade.
 */
function upgradeTiming(server: HttpServer) {
  const acceptedAt = new WeakMap<object, number>();
  let waits: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 20 });
  server.on("connection", (socket: object) => acceptedAt.set(socket, performance.now()));
  server.on("upgrade", (req: { socket: object }) => {
    const at = acceptedAt.get(req.socket);
    if (at !== undefined) waits.push(performance.now() - at);
  });
  const ms = (ns: number) => ns / 1e6;
  return {
    start() {
      waits = [];
      loop.reset();
      loop.enable();
    },
    read() {
      const sorted = [...waits].sort((a, b) => a - b);
      const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null;
      return {
        upgrades: sorted.length,
        fromAcceptMs: { p50: q(0.5), p99: q(0.99), max: sorted.at(-1) ?? null, over5s: sorted.filter((w) => w > 5_000).length, over20s: sorted.filter((w) => w > 20_000).length },
        loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      };
    },
  };
}

/**
 * Listeners on each of `hosts` (loopback only) at `port`, handing every connection they accept to
 * `server` (an HTTP server takes an injected socket through its "connection" event, as Node's
 * documentation allows): one server reachable at several destination addresses.
 */
async function alsoListen(server: HttpServer | undefined, port: number, hosts: string | undefined): Promise<{ servers: NetServer[]; urls: string[] }> {
  const servers: NetServer[] = [];
  const urls: string[] = [];
  for (const host of (hosts ?? "").split(",").map((h) => h.trim()).filter(Boolean)) {
    if (!server) throw new Error(`BENCH_ALSO_LISTEN is for gateways and bare servers (this is ${mode})`);
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) throw new Error(`BENCH_ALSO_LISTEN: ${host} is not a loopback address (127.0.0.0/8)`);
    const extra = createNetServer((socket) => server.emit("connection", socket));
    await listen(extra, port, host);
    servers.push(extra);
    urls.push(`http://${host}:${port}`);
  }
  return { servers, urls };
}

/** CPU-seconds of each thread of this process, summed by thread name (/proc/self/task/<tid>/stat: utime + stime in clock ticks of 1/100 s). */
function threadCpu(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const st = procStat(`/proc/self/task/${tid}/stat`);
      const seconds = (st.utime + st.stime) / 100;
      const key = tid === String(process.pid) ? "main" : st.comm;
      out[key] = (out[key] ?? 0) + seconds;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** The bare chat server's adapter channel key (ours is `wsac:io`): the two never hear each other on one Redis. */
const BARE_CHANNEL_KEY = "bench-bare";

/** The running `profileStart` session, if any. */
let profiler: Session | undefined;

/** What bare-store writes: the message's id and time as PostgreSQL gave them. */
type BareInsert = (chatId: string, senderId: string, text: string, clientId: string | null) => Promise<{ id: string; created_at: Date }>;

/**
 * bare-store's store: a table of its own (created if missing) and one INSERT … RETURNING per message,
 * a prepared statement on a small pool, as plain as a message can be stored.
 */
async function bareStore(url: string | undefined): Promise<{ insert: BareInsert; end: () => Promise<void> }> {
  if (!url) throw new Error("bare-store needs BENCH_DATABASE_URL");
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  await pool.query(
    "CREATE TABLE IF NOT EXISTS bench_bare_messages (id bigserial PRIMARY KEY, chat_id uuid NOT NULL, sender_id uuid NOT NULL, text text NOT NULL, client_id text, created_at timestamptz NOT NULL DEFAULT now())",
  );
  const insert: BareInsert = async (chatId, senderId, text, clientId) => {
    const res = await pool.query<{ id: string; created_at: Date }>({
      name: "bench-bare-insert",
      text: "INSERT INTO bench_bare_messages (chat_id, sender_id, text, client_id) VALUES ($1, $2, $3, $4) RETURNING id, created_at",
      values: [chatId, senderId, text, clientId],
    });
    return res.rows[0]!;
  };
  return { insert, end: () => pool.end() };
}

/**
 * The bare chat server's handlers: ours minus auth, storage and limits (with `store`, bare-store:
 * plus storage, each socket's messages stored one after another, in the order sent). A sender is a
 * made-up user per connection (a uuid and a name about as long as the bench's), a message id a
 * counter (or the stored row's).
 */
function bareChat(io: Server, store?: BareInsert) {
  let seq = 0;
  type Ack = (res: unknown) => void;
  type Payload = { chat_id?: unknown; text?: unknown; client_id?: unknown };
  return (socket: Socket) => {
    const sender = { id: randomUUID(), username: `bare_${socket.id.slice(0, 6)}` };
    socket.on("chat:join", async (payload: { chat_id?: unknown }, ack?: Ack) => {
      const chatId = String(payload?.chat_id);
      await socket.join(`chat:${chatId}`);
      ack?.({ ok: true, chat_id: chatId, missed: [], changes: [], cursor: "0", has_more: false });
    });
    // The contract's message, field for field (what ours sends), so every side delivers the same bytes.
    const deliver = (room: string, payload: Payload, id: string, createdAt: Date, ack?: Ack) => {
      const message = { id, chat_id: payload.chat_id, sender, text: payload.text, client_id: payload.client_id ?? null, created_at: createdAt.toISOString(), edited_at: null, deleted: false, reactions: [] };
      io.to(room).emit("message:new", message);
      ack?.({ ok: true, message });
    };
    let stored: Promise<unknown> = Promise.resolve();
    socket.on("message:send", (payload: Payload, ack?: Ack) => {
      const room = `chat:${String(payload?.chat_id)}`;
      if (!socket.rooms.has(room)) return ack?.({ ok: false, error: { code: "not_in_chat", message: "Join the chat (chat:join) before sending to it" } });
      if (!store) {
        seq += 1;
        return deliver(room, payload, String(seq), new Date(), ack);
      }
      const clientId = typeof payload.client_id === "string" ? payload.client_id : null;
      stored = stored.then(() =>
        store(String(payload.chat_id), sender.id, String(payload.text), clientId).then(
          (row) => deliver(room, payload, row.id, row.created_at, ack),
          () => ack?.({ ok: false, error: { code: "unavailable", message: "Not stored" } }),
        ),
      );
    });
  };
}

/** Settings a bench child may take from its environment (the gateway's; the api's and worker's WEBHOOK_ALLOW_PRIVATE, for a receiver on loopback). */
const CHILD_ENV = ["SOCKET_EVENT_BURST", "SOCKET_EVENT_RATE", "SOCKET_MAX_BUFFERED_BYTES", "MESSAGE_LIMIT_PER_USER", "PRESENCE", "WEBHOOK_ALLOW_PRIVATE", "DATABASE_POOL_MAX", "SOCKET_PING_INTERVAL", "SOCKET_PING_TIMEOUT", "HANDSHAKE_MAX_LAG_MS"];

main().catch((err: unknown) => {
  process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

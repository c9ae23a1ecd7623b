/**
 * `npm run bench`: our gateway side by side with a bare Socket.IO server (same socket.io version,
 * path /ws, WebSocket transport, stock socket.io-client, same concurrency), every server and load
 * generator in its own process. Prints a markdown table and writes bench/results/latest.{json,md}.
 *
 *   npm run bench                              every figure (about 15 minutes on 2 cores, 6 of them the soak, plus the cluster, stored and fan-out phases)
 *   npm run bench -- --only=handshake,memory   some phases: tokens, handshake, memory (and capacity), delivery, revocation, login, cluster, stored, soak, attack, fanout
 *   npm run bench -- --only=tokens     CPU per access-token verification: ES256 (the api's key) against HS256 (the old secret), fresh tokens
 *   npm run bench -- --only=presence   handshake CPU and Redis commands with presence vs without, GET /chats/:id/presence p99 with
 *                                      10,000 online, kill -9 of a gateway → its users' presence:leave (about 1.5 minutes)
 *   npm run bench -- --only=stored     stored messages/s: 200 sockets closed-loop on one gateway vs the same single-row inserts
 *                                      straight to PostgreSQL (200 at once, pool of 10), 3 alternating rounds (about 45 s)
 *   npm run bench -- --only=soak       50 rounds of 2000 connect → chat:join → message:send → disconnect on gw1: heap and gateway.stats() after
 *   npm run bench -- --only=attack     one raw socket floods chat:join {after} and reads nothing, twice: on gw1 (default event budget:
 *                                      the flood rule cuts it) and on gwb (budget 4000: the send-buffer bound cuts it); the gateway's
 *                                      RSS, the cut-off, the delivery p99 of a room on the same gateway (--only=attack-flood or
 *                                      --only=attack-buffer for one of them)
 *   npm run bench -- --only=soak --rounds=5    a shorter soak (a quick check)
 *   npm run bench -- --only=cluster    two gateways on one redis-server vs two on a 3-master Redis Cluster of its own
 *                                      (bin/redis-cluster.sh on free ports), same settings and load: cross-gateway delivery
 *                                      p50/p99 and saturation, SSUBSCRIBEs per socket and per chat, handshake rate and CPU
 *                                      (about 2.5 minutes; BENCH_LOG_DIR=<dir>: the gateway children log there, not to /dev/null)
 *   npm run bench -- --only=fanout     deliveries/s one gateway sustains for rooms of 10, 100 and 1000 sockets against a bare
 *                                      Socket.IO server broadcasting the same messages through the same Redis adapter (its own
 *                                      channel key on the same redis-server), CPU per delivery, delivery p50/p99 at 80 % of our
 *                                      sustained rate; then ours ×3 vs bare ×3 (room of 100 over the three); the generators' CPU
 *                                      beside every figure (about 4 minutes; lib/fanout.ts; FANOUT_ROOMS=100 FANOUT_THREE=0 for
 *                                      one case). With --profile: only a room of 100 at a fixed rate (FANOUT_PROFILE=10:3000:
 *                                      rooms of 10 at 3,000 msg/s), each gateway profiled over the steps
 *                                      (bench/results/prof/fanout-*.cpuprofile)
 *   npx tsc -p bench/tsconfig.json     type-checks the bench (the root and test tsconfigs exclude bench/)
 *   npm run bench -- --only=memory --max=5000       memory at 5000 connections only (no capacity steps, no hold)
 *   npm run bench -- --only=handshake --profile  a V8 CPU profile of each server over each measured round's connect window
 *                                      (bench/results/prof/handshakes-<server>-round<n>.cpuprofile), see bench/profile-top.ts
 *
 * Our servers run the JavaScript `tsc` compiles into dist/ (built at the start of every run), as
 * production does; the bench itself and its load generators run through tsx.
 *
 * Every phase logs who used the CPU meanwhile (this bench, PostgreSQL, other processes: the machine
 * may be shared, and other processes' load skews the latency figures); the table is followed by it.
 *
 * Needs PostgreSQL (BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres; a
 * database of its own is created and dropped) and /usr/bin/redis-server (REDIS_SERVER_BIN; one of
 * its own on a free port); the cluster phase also /usr/bin/redis-cli (REDIS_CLI_BIN) and
 * bin/redis-cluster.sh (six nodes of its own on free ports, stopped after the phase or on failure).
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { startRedisServer, type RedisServer } from "../test/support/redis-server";
import { sql } from "kysely";
import { es256SigningKey } from "../shared/auth/keys";
import { TokenSigner } from "../shared/auth/tokens";
import { tokenVerificationPhase } from "./lib/tokens";
import { type Child, killAll, sleep, spawnChild, stopAll } from "./lib/ipc";
import { type BenchDatabase, createBenchDatabase, seed, type Seeded, seedMessages } from "./lib/setup";
import { adoptPids, cpuSnapshot, cpuText, type CpuUse, cpuUse, disturbed } from "./lib/cpu-account";
import { type BenchRedisCluster, clientList, cliRuns, redisCpuSeconds, redisInfo, startBenchRedisCluster } from "./lib/redis-cluster";
import { addCounts, type Summary } from "./lib/stats";
import type { Row } from "./lib/results";
import { fanoutPhase } from "./lib/fanout";
import { busyCores, firstFailText, ladderRule, ladderText, newSide, type SatSide, satLadder, sustained } from "./lib/saturation";
import { storedPhase } from "./lib/stored";
import { capacityModel } from "./lib/capacity-model";
import { GRACE_MS } from "../shared/presence/presence";
import { RedisPresence } from "../shared/presence/redis-presence";
import { summary } from "./lib/stats";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const only = flag("only")?.split("=")[1]?.split(",");
const phase = (name: string) => !only || only.includes(name);
const PROFILE = flag("profile") !== undefined;
/**
 * BENCH_PERF_WINDOWS=<file>: each measured handshake round's window is appended to it as
 * `<phase> <server> <start ns> <end ns>` (CLOCK_MONOTONIC), to cut a `perf record -k CLOCK_MONOTONIC`
 * of a server process (which sees the kernel's side: system calls, wake-ups) down to the rounds.
 * The servers' Node flags can be added with BENCH_NODE_FLAGS (e.g. --perf-basic-prof-only-functions).
 */
const PERF_WINDOWS = process.env.BENCH_PERF_WINDOWS;
/** `--max=N`: stop the capacity steps at N connections, without the hold (a quick memory figure). */
const MAX = Number(flag("max")?.split("=")[1] ?? Infinity);
/** `--rounds=N`: a shorter soak (a quick check; the figure is meant for the default 50). */
const ROUNDS = Number(flag("rounds")?.split("=")[1] ?? 50);

const RESULTS = join(__dirname, "results");
const FD_LIMIT = 20_000;
const CLIENTS = 4; // load generators, one loopback source address each
const PER_CLIENT_CONCURRENCY = 25; // handshakes in flight per generator: 100 in all
const HANDSHAKE_ROUND = 4_000; // connections per measured round
const HANDSHAKE_ROUNDS = 3;
const LOAD_SESSIONS = 20_000;
const LOAD_CHATS = 200;
const CAPACITY_STEPS = [5_000, 10_000, 15_000, 19_000];
const HOLD_MS = 30_000; // > pingInterval (25 s): every held socket answers at least one heartbeat
const DELIVERY = { room: 100, senders: 10, perSenderRate: 2, durationMs: 10_000 };
const REVOCATION = { sessions: 120, gapMs: 20 };
const LOGIN = { rounds: 30, concurrency: 4, batch: 16 };
/** Connect → chat:join → one message:send → disconnect cycles on gw1, every generator at once; users rotate (one send per user every 5 rounds). */
const SOAK = { rounds: ROUNDS, perRound: 2_000, users: 10_000, chats: 8, concurrency: 25, maxMs: 8 * 60_000 };
/**
 * One attacker (a raw socket in its own generator) floods `chat:join {after}` on a chat of 100 messages of 4000
 * characters and reads nothing, while a room of 100 well-behaved clients on the same gateway is measured as in
 * `delivery` (all on that gateway); the attack window is capped at `windowMs` from the first join sent. Under
 * gw1's default event budget the flood rule cuts the attacker; `ATTACK_BUFFER` is the same attack on a gateway
 * of its own (gwb) whose budget lets every join run, so that the send-buffer bound is what stops it.
 */
const ATTACK = {
  joins: Number(process.env.ATTACK_JOINS ?? 5_000),
  chunk: 100,
  windowMs: 15_000,
  probeMs: 25,
  sampleMs: 50,
  messages: 100,
  messageLength: 4_000,
  room: 100,
  senders: 10,
  perSenderRate: 2,
  durationMs: 10_000,
  /** The delivery figures also sum up the messages sent in a run's first `earlyMs` (when the attack hits). */
  earlyMs: 2_000,
  /** Safety: the attacker is stopped if the gateway's RSS passes this (the machine's memory is shared). */
  rssCapBytes: 3 * 2 ** 30,
};
/** 300 catch-ups in one write, each answered with ~256 KiB; 300 × (1 + 10 held) points fit in a burst of 4000. */
const ATTACK_BUFFER = { joins: 300, eventBurst: 4_000 };
/**
 * The cluster bench (issue 10): one pair of gateways on one redis-server (the bench's) and one pair
 * on a 3-master Redis Cluster of its own (bin/redis-cluster.sh), same settings, same load, side by
 * side in one run. Both pairs run with the posting limit and the per-socket event budget raised
 * alike (`env`): the saturation steps send thousands of messages per second from 40 users, far past
 * the default 60 per 10 s per user and 10 events per second per socket; nothing else differs.
 */
const CLUSTER = {
  env: { MESSAGE_LIMIT_PER_USER: "1000000", SOCKET_EVENT_BURST: "100000", SOCKET_EVENT_RATE: "100000" },
  room: 100,
  /**
   * Saturation: senders over the 4 generators; each step sends for `stepMs` at a rate, from `startRate` up by `factor`
   * a step, until `failsToStop` steps in a row fail (one failure alone may be a hiccup of this shared machine) or
   * `maxSteps`; a failed step during which other processes were busy (see `disturbed`) is run again once.
   */
  sat: { senders: 40, stepMs: 2_500, startRate: 125, factor: 1.25, maxSteps: 7, failsToStop: 2, tailMs: 500, lagMs: 150, ackWaitMs: 1_000, drainMs: 10_000 },
  /** Redis's own idle CPU (cluster cron and gossip, replication pings, the gateways' idle links) is measured over this long and left out of the per-message and per-handshake Redis CPU. */
  redisIdleMs: 3_000,
  /** Sockets that join no chat (half on each cluster gateway). */
  idleSockets: 2_000,
  /** Sockets in chats: 200 chats, each with 4 sockets on each cluster gateway. */
  chatSockets: 1_600,
  chats: 200,
  /** Handshake users (each in one of `chats` chats, as in the handshake phase). */
  handshakeUsers: HANDSHAKE_ROUND,
};
/**
 * The whole run stops itself after this (every child killed). A full run takes 15–16 min on this
 * machine at its usual speed; at the slower hours seen on 2026-11-29 (bare's own costs up about
 * 1.7x) it passed 20 min and was cut during its last phase, losing the run's tables.
 */
const DEADLINE_MS = 35 * 60_000;

const t0 = Date.now();
const cpu0 = cpuSnapshot();
const log = (msg: string) => process.stdout.write(`[bench +${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  sockets: number;
  fds: number;
  cpu: { user: number; system: number };
}

const results: { rows: Row[]; details: Record<string, unknown>; errors: string[] } = { rows: [], details: {}, errors: [] };
const row = (r: Row) => results.rows.push(r);

let database: BenchDatabase | undefined;
let redis: RedisServer | undefined;
/** The cluster phase's Redis Cluster while it runs (stopped by the phase, or here on a failure). */
let redisCluster: BenchRedisCluster | undefined;

async function cleanup(): Promise<void> {
  await stopAll().catch(() => undefined);
  await redis?.stop().catch(() => undefined);
  redis = undefined;
  await redisCluster?.stop().catch(() => undefined);
  redisCluster = undefined;
  await database?.drop().catch((err: Error) => process.stderr.write(`could not drop ${database?.name}: ${err.message}\n`));
  database = undefined;
}

const split = <T>(xs: T[], n: number): T[][] => Array.from({ length: n }, (_, k) => xs.filter((_, i) => i % n === k));

async function connectAll(clients: Child[], url: string, items: { token: string; chat?: string }[], keep = true) {
  const parts = split(items, clients.length);
  const started = Date.now();
  const res = await Promise.all(
    clients.map((c, k) =>
      c.call<{ ok: number; failed: number; errors: Record<string, number>; started: number; ended: number; p50: number; p99: number }>(
        "connect",
        { url, items: parts[k], concurrency: PER_CLIENT_CONCURRENCY, keep },
        180_000,
      ),
    ),
  );
  const ended = Math.max(...res.map((r) => r.ended));
  const ok = res.reduce((a, r) => a + r.ok, 0);
  const failed = res.reduce((a, r) => a + r.failed, 0);
  const errors: Record<string, number> = {};
  for (const r of res) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const begun = Math.min(...res.map((r) => r.started), started);
  return { ok, failed, errors, seconds: (ended - begun) / 1000, rate: ok / ((ended - begun) / 1000), p50: Math.max(...res.map((r) => r.p50)) };
}

async function closeAll(clients: Child[], server: Child, only?: { url: string }): Promise<void> {
  await Promise.all(clients.map((c) => c.call("closeAll", only, 60_000)));
  for (let i = 0; i < 100 && (await server.call<number>("sockets")) > 0; i += 1) await sleep(100);
}

const mem = (server: Child) => server.call<Mem>("mem", undefined, 30_000);
/** A process's CPU time (user + system) in ms, from any answer that carries its `cpu`. */
const cpuMs = (m: { cpu: Mem["cpu"] }) => (m.cpu.user + m.cpu.system) / 1000;

/** Transactions committed in the bench database so far (statistics are flushed about once a second). */
async function commits(): Promise<number> {
  const { rows } = await sql<{ n: string }>`select xact_commit::text as n from pg_stat_database where datname = current_database()`.execute(database!.db);
  return Number(rows[0]?.n ?? 0);
}

/** A process's resident set and its peak since the last reset (VmRSS, VmHWM of /proc/<pid>/status), or null if it is gone. */
function procMem(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return null;
  }
}

/** Resets VmHWM (Linux: "5" to clear_refs), so that it reads the peak of the attack alone. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A server's /metrics text, or null (no answer within 10 s). */
async function scrape(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/** The sum of a metric's samples whose labels include `labels`; 0 if it is declared without samples, null if absent. */
function metricSum(text: string | null, name: string, labels: Record<string, string> = {}): number | null {
  if (text === null) return null;
  let found = new RegExp(`^# TYPE ${name} `, "m").test(text);
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) continue;
    found = true;
    sum += Number(m[3]);
  }
  return found ? sum : null;
}

/** A metric's samples (those whose labels include `labels`) summed by the value of label `by`. */
function metricBy(text: string | null, name: string, labels: Record<string, string>, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) continue;
    const key = new RegExp(`${by}="([^"]*)"`).exec(m[2] ?? "")?.[1] ?? "";
    out[key] = (out[key] ?? 0) + Number(m[3]);
  }
  return out;
}

const diffCounts = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

interface HandshakeRound {
  rate: number;
  cpuUsPerHandshake: number;
  failed: number;
  p50: number;
  queriesPerHandshake: number;
  /** Who used the CPU meanwhile: the machine is shared, so a round with others busy is suspect. */
  cpu?: CpuUse | null;
  /** Server CPU per connection from its handshake to its close (µs): the round's connect and then its close. */
  cycleCpuUsPerHandshake?: number;
  /** Redis CPU per handshake (µs, INFO cpu of every Redis server the gateway uses), when asked for. */
  redisUsPerHandshake?: number;
  /** The server's write and read system calls per handshake (each write to a client wakes it). */
  syscallsPerHandshake?: { writes: number; reads: number };
}

/**
 * The handshake method: warm-up (a round's users twice, held the first time, on each server), then `HANDSHAKE_ROUNDS` rounds of
 * `HANDSHAKE_ROUND` connections held, 100 in flight, the servers in turn; per round
 * the rate, the server's CPU per handshake (its own process.cpuUsage) and the PostgreSQL
 * transactions per handshake. `redisCpu` (optional, per server): Redis CPU-seconds used so far.
 */
async function handshakeRounds(
  tag: string,
  servers: [string, Child][],
  clients: Child[],
  load: { token: string; chat?: string }[],
  redisCpu: Record<string, () => Promise<number>> = {},
  /**
   * "reconnect" (default): the users drop just before their round and return 1.1 s later, within
   * presence's grace. "fresh": they drop right after their round and return only once the grace
   * has run out, so every handshake is a fresh join (announced to the chat's others).
   */
  mode: "reconnect" | "fresh" = "reconnect",
): Promise<Record<string, HandshakeRound[]>> {
  log(`${tag}: warm-up`);
  const own = (s: Child) => ({ url: s.info.url as string });
  for (let i = 0; i < 2; i += 1) {
    for (const [, s] of servers) {
      // Both passes are the rounds' users, held open like a round's (each server's heap has grown
      // to hold them once before anything is measured: the first measured round of either server
      // otherwise paid for that growth, 20-40 % above its other rounds). The second pass stays
      // open: the first round's users drop just before they reconnect, as in every round.
      if (i === 1) await closeAll(clients, s, own(s));
      await connectAll(clients, s.info.url as string, load.slice(0, HANDSHAKE_ROUND));
      if (i === 0) await closeAll(clients, s, own(s));
    }
  }
  const rounds: Record<string, HandshakeRound[]> = Object.fromEntries(servers.map(([name]) => [name, []]));
  const closedAt = new Map<string, number>(servers.map(([name]) => [name, Date.now()]));
  for (let r = 0; r < HANDSHAKE_ROUNDS; r += 1) {
    for (const [name, server] of servers) {
      // A reconnect storm: the server's previous connections (the same users) drop, and 1.1 s
      // later they all come back. Each server keeps its users until its own next round, so that
      // they return within seconds however long the other server's round takes (and within
      // presence's 10 s grace, as clients with a jittered back-off do). Dropping them is measured
      // too: handshake + close. In "fresh" mode they dropped after their last round instead, and
      // come back once presence's grace is over.
      const beforeClose = await server.call<{ cpu: Mem["cpu"] }>("cpu");
      await closeAll(clients, server, own(server));
      const afterClose = await server.call<{ cpu: Mem["cpu"] }>("cpu");
      const graceOver = (closedAt.get(name) ?? 0) + GRACE_MS + 1_500;
      await sleep(mode === "fresh" ? Math.max(1_100, graceOver - Date.now()) : 1_100);
      const xacts = await commits();
      const redisBefore = await redisCpu[name]?.();
      const before = await server.call<{ cpu: Mem["cpu"] }>("cpu");
      const machine = cpuSnapshot();
      if (PROFILE) await server.call("profileStart");
      const threads0 = await server.call<Record<string, number>>("threads");
      const calls0 = await server.call<{ reads: number; writes: number }>("syscalls");
      const perfT0 = process.hrtime.bigint();
      const res = await connectAll(clients, server.info.url as string, load.slice(0, HANDSHAKE_ROUND));
      if (PERF_WINDOWS) writeFileSync(PERF_WINDOWS, `${tag} ${name} ${perfT0} ${process.hrtime.bigint()}\n`, { flag: "a" });
      const calls1 = await server.call<{ reads: number; writes: number }>("syscalls");
      const cpu = cpuUse(machine, cpuSnapshot());
      const after = await server.call<{ cpu: Mem["cpu"] }>("cpu");
      const threads1 = await server.call<Record<string, number>>("threads");
      const byThread = Object.entries(threads1)
        .map(([k, v]) => [k, ((v - (threads0[k] ?? 0)) * 1e6) / Math.max(1, HANDSHAKE_ROUND)] as const)
        .filter(([, us]) => us >= 1)
        .sort((a, b) => b[1] - a[1]);
      if (PROFILE) await server.call("profileStop", { file: join(RESULTS, "prof", `${tag.replace(/\W+/g, "-")}-${name}-round${r + 1}.cpuprofile`) });
      const redisAfter = await redisCpu[name]?.();
      await sleep(1_100);
      const queries = (await commits()) - xacts - 2; // less the two reads of the statistics
      const cpuUs = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
      const closeUs = afterClose.cpu.user + afterClose.cpu.system - beforeClose.cpu.user - beforeClose.cpu.system;
      if (mode === "fresh") {
        await closeAll(clients, server, own(server));
        closedAt.set(name, Date.now());
      }
      const perHandshake = queries / Math.max(1, res.ok);
      const redisUs = redisBefore !== undefined && redisAfter !== undefined ? ((redisAfter - redisBefore) * 1e6) / Math.max(1, res.ok) : undefined;
      rounds[name]!.push({
        rate: res.rate,
        cpuUsPerHandshake: cpuUs / Math.max(1, res.ok),
        failed: res.failed,
        p50: res.p50,
        queriesPerHandshake: perHandshake,
        cpu,
        // A connection's whole life: this handshake plus the close of the same number of the same users' connections.
        cycleCpuUsPerHandshake: (cpuUs + closeUs) / Math.max(1, res.ok),
        syscallsPerHandshake: { writes: (calls1.writes - calls0.writes) / Math.max(1, res.ok), reads: (calls1.reads - calls0.reads) / Math.max(1, res.ok) },
        ...(redisUs !== undefined ? { redisUsPerHandshake: redisUs } : {}),
      });
      log(
        `${tag}: ${name} round ${r + 1}: ${res.rate.toFixed(0)}/s, ${(cpuUs / Math.max(1, res.ok)).toFixed(0)} µs server CPU each, ` +
          `${redisUs !== undefined ? `${redisUs.toFixed(0)} µs Redis CPU each, ` : ""}` +
          `${perHandshake.toFixed(3)} queries each, ${res.failed} failed ${JSON.stringify(res.errors)}; by thread (µs each) ${byThread.map(([k, us]) => `${k} ${us.toFixed(0)}`).join(", ")}; ` +
          `system calls each: ${((calls1.writes - calls0.writes) / Math.max(1, res.ok)).toFixed(2)} writes, ${((calls1.reads - calls0.reads) / Math.max(1, res.ok)).toFixed(2)} reads; ${cpuText(cpu)}${disturbed(cpu) ? " (DISTURBED)" : ""}`,
      );
    }
  }
  for (const [, server] of servers) await closeAll(clients, server, own(server));
  return rounds;
}

async function handshakePhase(ours: Child, bare: Child, clients: Child[], load: { token: string; chat?: string }[]) {
  const rounds = await handshakeRounds("handshakes", [["bare", bare], ["ours", ours]], clients, load);
  const best = (xs: { rate: number }[]) => Math.max(...xs.map((x) => x.rate));
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const o = best(rounds.ours!);
  const b = best(rounds.bare!);
  results.details.handshakes = { rounds, connectionsPerRound: HANDSHAKE_ROUND, concurrency: CLIENTS * PER_CLIENT_CONCURRENCY };
  row({
    figure: `handshakes/s (${HANDSHAKE_ROUND} connections, ${CLIENTS * PER_CLIENT_CONCURRENCY} in flight, best of ${HANDSHAKE_ROUNDS})`,
    ours: o,
    baseline: b,
    unit: "/s",
    ratio: o / b,
    target: "≥ 0.9x",
    met: o / b >= 0.9,
  });
  const oc = med(rounds.ours!.map((x) => x.cpuUsPerHandshake));
  const bc = med(rounds.bare!.map((x) => x.cpuUsPerHandshake));
  row({
    figure: "server CPU per authenticated handshake (median round; the process's own CPU over the connect window)",
    ours: oc,
    baseline: bc,
    unit: "µs",
    ratio: oc / bc,
    target: "≤ 1.2x",
    met: oc / bc <= 1.2,
    note: `rounds: ours ${rounds.ours!.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")}, bare ${rounds.bare!.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")} µs`,
  });
  const occ = med(rounds.ours!.map((x) => x.cycleCpuUsPerHandshake ?? NaN));
  const bcc = med(rounds.bare!.map((x) => x.cycleCpuUsPerHandshake ?? NaN));
  row({ figure: "server CPU per connection, handshake and close (median round)", ours: occ, baseline: bcc, unit: "µs", ratio: occ / bcc, target: "—", met: null });
  const q = med(rounds.ours!.map((x) => x.queriesPerHandshake));
  row({ figure: "PostgreSQL queries per handshake (median round)", ours: q, baseline: 0, unit: "", ratio: null, target: "—", met: null });
}

interface Step {
  total: number;
  rate: number;
  failed: number;
  errors: Record<string, number>;
  rssPerConn: number;
  heapPerConn: number;
  fds: number;
  /**
   * The server's CPU (user + system) over the step's handshakes and the second after, per handshake
   * made. That second holds the heartbeats of every connection held (about 0.2-0.3 cores at 19,000
   * here), which outweigh a top-up step's 250 handshakes: only steps of 1,000 or more log it.
   */
  cpuUsPerHandshake: number;
  /** CPU-s per second over the same time: the server, the load generators together, the whole machine (busy). */
  serverCores: number;
  generatorCores: number;
  machineCores: number;
}

/** Steps one server up to the descriptor limit (or the first errors); memory at each step. */
async function capacityPhase(name: string, server: Child, clients: Child[], load: { token: string; chat?: string }[], hold: boolean) {
  await closeAll(clients, server);
  const base = await mem(server);
  log(`${name}: baseline rss ${(base.rss / 2 ** 20).toFixed(1)} MiB, heap ${(base.heapUsed / 2 ** 20).toFixed(1)} MiB, ${base.fds} fds`);
  const steps: Step[] = [];
  let total = 0;
  let fds = base.fds;
  for (let s = 0; ; s += 1) {
    let target: number;
    if (s < CAPACITY_STEPS.length) target = CAPACITY_STEPS[s]!;
    else {
      const headroom = FD_LIMIT - fds;
      if (headroom <= 24) break; // the limit: keep a few descriptors for PostgreSQL and Redis reconnects
      target = total + Math.min(250, headroom - 16);
    }
    if (target > load.length || target > MAX) break;
    // Who did the work meanwhile: with presence on, every join is announced to the chat's others,
    // and the generators, which hold those sockets on the same machine, read each announcement.
    const cpuOf = () => Promise.all([server.call<{ cpu: Mem["cpu"] }>("cpu"), ...clients.map((c) => c.call<{ cpu: Mem["cpu"] }>("cpu"))]);
    const [before, machineBefore] = [await cpuOf(), cpuSnapshot()];
    const res = await connectAll(clients, server.info.url as string, load.slice(total, target));
    // A second more: the step's last presence announcements, held back up to a second, are its work too.
    await sleep(1_000);
    const [after, machineAfter] = [await cpuOf(), cpuSnapshot()];
    const used = after.map((a, i) => (cpuMs(a) - cpuMs(before[i]!)) * 1000);
    const busy = cpuUse(machineBefore, machineAfter);
    const seconds = busy?.seconds || res.seconds + 1;
    total += res.ok;
    const m = await mem(server);
    fds = m.fds;
    const step: Step = {
      total: m.sockets,
      rate: res.rate,
      failed: res.failed,
      errors: res.errors,
      rssPerConn: (m.rss - base.rss) / m.sockets,
      heapPerConn: (m.heapUsed - base.heapUsed) / m.sockets,
      fds: m.fds,
      cpuUsPerHandshake: used[0]! / Math.max(1, res.ok),
      serverCores: used[0]! / 1e6 / seconds,
      generatorCores: used.slice(1).reduce((a, b) => a + b, 0) / 1e6 / seconds,
      machineCores: busy ? busy.machine / busy.seconds : NaN,
    };
    steps.push(step);
    log(
      `${name}: ${m.sockets} held (${res.rate.toFixed(0)}/s, ${res.failed} failed ${JSON.stringify(res.errors)}), ` +
        `${(step.rssPerConn / 1024).toFixed(2)} KiB rss and ${(step.heapPerConn / 1024).toFixed(2)} KiB heap per connection, ${m.fds} fds` +
        (res.ok >= 1_000
          ? `; ${step.cpuUsPerHandshake.toFixed(0)} µs server CPU per handshake, cores: server ${step.serverCores.toFixed(2)}, generators ${step.generatorCores.toFixed(2)}, machine ${step.machineCores.toFixed(2)}`
          : ""),
    );
    if (res.failed > 0 || m.sockets !== total) break;
  }
  let holdResult: Record<string, unknown> | undefined;
  if (hold && MAX === Infinity) {
    log(`${name}: holding ${total} for ${HOLD_MS / 1000} s (heartbeats every 25 s)`);
    await sleep(HOLD_MS);
    const statuses = await Promise.all(clients.map((c) => c.call<{ connected: number; dropped: number; dropReasons: Record<string, number> }>("status")));
    const m = await mem(server);
    holdResult = {
      serverSockets: m.sockets,
      clientConnected: statuses.reduce((a, s) => a + s.connected, 0),
      dropped: statuses.reduce((a, s) => a + s.dropped, 0),
      dropReasons: statuses.map((s) => s.dropReasons),
      fds: m.fds,
      rssPerConn: (m.rss - base.rss) / Math.max(1, m.sockets),
      heapPerConn: (m.heapUsed - base.heapUsed) / Math.max(1, m.sockets),
    };
    log(`${name}: after the hold ${JSON.stringify(holdResult)}`);
  }
  await closeAll(clients, server);
  return { base, steps, hold: holdResult };
}

interface DeliveryRun {
  sent: number;
  acked: number;
  refused: number;
  refusedCodes: Record<string, number>;
  roomSize: number;
  deliveries: number;
  wanted: number;
  late: number;
  all: Summary;
  disconnected: number;
}

interface CyclesResult {
  ok: number;
  sent: number;
  refused: Record<string, number>;
  failed: Record<string, number>;
  started: number;
  ended: number;
}

/**
 * Soak: rounds of connect → chat:join → one message:send → disconnect on one gateway. After the
 * first round, after the round in which the last user connected for the first time, and after the
 * last round (every socket gone, GC first): memory and `gateway.stats()`. Heap must not grow from
 * the second snapshot to the last (by then the bounded caches are full: verified tokens, up to
 * 10,000, one per user; replay ids, up to 5,000; the first snapshot has 2,000 and 2,000 and the
 * caches alone then account for ~6 MiB of growth), per-socket state must be back to zero.
 */
async function soakPhase(gw: Child, clients: Child[], tokens: TokenSigner) {
  const seeded = await seed(database!.url, tokens, "soak_", SOAK.users, SOAK.chats);
  const items = seeded.users.map((u, i) => ({ token: u.token, chat: seeded.chatOf(i)! }));
  const url = gw.info.url as string;
  // Every socket closed, and every presence grace they left ended (10 s; its leave sent): measured while
  // graces still ended, the heap swung by ±25 % with the Redis scripts in flight (0.88x and 1.26x in two runs
  // with the same counters and RSS).
  const settle = async () => {
    for (let i = 0; i < 100 && (await gw.call<number>("sockets")) > 0; i += 1) await sleep(100);
    for (let i = 0; i < 150 && ((await gw.call<Record<string, number>>("stats")).presenceGraces ?? 0) > 0; i += 1) await sleep(100);
    await sleep(500);
  };
  const snapshot = async () => {
    await settle();
    const m = await mem(gw);
    const stats = await gw.call<Record<string, number>>("stats");
    return { mem: m, stats };
  };
  const started = Date.now();
  const rounds: { ok: number; sent: number; rate: number; cpuUs: number; refused: Record<string, number>; failed: Record<string, number> }[] = [];
  let first: Awaited<ReturnType<typeof snapshot>> | undefined;
  let warm: Awaited<ReturnType<typeof snapshot>> | undefined;
  let last: Awaited<ReturnType<typeof snapshot>> | undefined;
  // The round after which every user has connected once (5 of the default 50).
  const warmRound = Math.ceil(SOAK.users / SOAK.perRound) - 1;
  const refused: Record<string, number> = {};
  const failed: Record<string, number> = {};
  log(`soak: ${SOAK.rounds} rounds of ${SOAK.perRound} cycles on gw1, ${clients.length} generators × ${SOAK.concurrency} at a time, ${SOAK.users} users in ${SOAK.chats} chats`);
  for (let r = 0; r < SOAK.rounds; r += 1) {
    if (Date.now() - started > SOAK.maxMs) {
      log(`soak: stopping after ${r} rounds (${SOAK.maxMs / 1000} s cap)`);
      break;
    }
    const from = (r * SOAK.perRound) % items.length;
    const slice = Array.from({ length: SOAK.perRound }, (_, i) => items[(from + i) % items.length]!);
    const parts = split(slice, clients.length);
    const cpuBefore = await gw.call<{ cpu: Mem["cpu"] }>("cpu");
    const res = await Promise.all(
      clients.map((c, k) => c.call<CyclesResult>("cycles", { url, items: parts[k], concurrency: SOAK.concurrency, tag: `s${r}g${k}` }, 180_000)),
    );
    const cpuAfter = await gw.call<{ cpu: Mem["cpu"] }>("cpu");
    const ok = res.reduce((a, x) => a + x.ok, 0);
    const sent = res.reduce((a, x) => a + x.sent, 0);
    const cpuUs = (cpuAfter.cpu.user + cpuAfter.cpu.system - cpuBefore.cpu.user - cpuBefore.cpu.system) / Math.max(1, ok);
    const seconds = (Math.max(...res.map((x) => x.ended)) - Math.min(...res.map((x) => x.started))) / 1000;
    const rRefused: Record<string, number> = {};
    const rFailed: Record<string, number> = {};
    for (const x of res) {
      addCounts(rRefused, x.refused);
      addCounts(rFailed, x.failed);
    }
    addCounts(refused, rRefused);
    addCounts(failed, rFailed);
    rounds.push({ ok, sent, rate: ok / seconds, cpuUs, refused: rRefused, failed: rFailed });
    let extra = "";
    if (r === 0 || (r === warmRound && r < SOAK.rounds - 1) || r === SOAK.rounds - 1) {
      const snap = await snapshot();
      if (r === 0) first = snap;
      else if (r === warmRound && r < SOAK.rounds - 1) warm = snap;
      else last = snap;
      extra = `; heap ${MiB(snap.mem.heapUsed)}, rss ${MiB(snap.mem.rss)}, stats ${JSON.stringify(snap.stats)}`;
    }
    log(
      `soak: round ${r + 1}/${SOAK.rounds}: ${ok}/${SOAK.perRound} cycles in ${seconds.toFixed(1)} s (${(ok / seconds).toFixed(0)}/s, gw1 ${cpuUs.toFixed(0)} µs CPU each), ${sent} sent` +
        `${Object.keys(rRefused).length ? `, refused ${JSON.stringify(rRefused)}` : ""}${Object.keys(rFailed).length ? `, failed ${JSON.stringify(rFailed)}` : ""}${extra}`,
    );
  }
  if (!last && rounds.length > 1) last = await snapshot();
  const total = rounds.reduce((a, x) => a + x.ok, 0);
  const wall = (Date.now() - started) / 1000;
  results.details.soak = { ...SOAK, wallSeconds: wall, cycles: total, refused, failed, first, warm, last, rounds };
  log(`soak: ${total} cycles in ${wall.toFixed(0)} s; refused ${JSON.stringify(refused)}, failed ${JSON.stringify(failed)}`);
  if (!first || !last) throw new Error(`soak: fewer than two rounds measured (${rounds.length})`);
  const perSocket = ["sockets", "rooms", "expiryEntries"].filter((k) => k in last.stats);
  const leftover = perSocket.filter((k) => last.stats[k] !== 0);
  const base = warm ?? first;
  const baseRound = warm ? warmRound + 1 : 1;
  const ratio = last.mem.heapUsed / base.mem.heapUsed;
  row({
    figure: `heap after ${rounds.length} rounds of ${SOAK.perRound} connect/chat/disconnect vs after round ${baseRound}${warm ? " (every user connected once: the bounded caches full)" : ""}`,
    ours: last.mem.heapUsed / 2 ** 20,
    baseline: base.mem.heapUsed / 2 ** 20,
    unit: "MiB",
    ratio,
    target: "within 10 %",
    met: ratio <= 1.1 && leftover.length === 0,
    note:
      `gateway.stats() after the last round ${JSON.stringify(last.stats)}, after round ${baseRound} ${JSON.stringify(base.stats)}; ` +
      `${warm ? `after the first round: heap ${MiB(first.mem.heapUsed)}, stats ${JSON.stringify(first.stats)}; ` : ""}` +
      `rss ${MiB(last.mem.rss)} vs ${MiB(base.mem.rss)}; ${total}/${rounds.length * SOAK.perRound} cycles, ` +
      `${Object.values(refused).reduce((a, b) => a + b, 0)} sends refused${Object.keys(refused).length ? ` ${JSON.stringify(refused)}` : ""}, ` +
      `${Object.values(failed).reduce((a, b) => a + b, 0)} cycles failed${leftover.length ? `; not back to 0: ${leftover.join(", ")}` : ""}; ${wall.toFixed(0)} s`,
  });
}

/** The two attacks: `flood` under gw1's own (default) event budget, `buffer` on a gateway of its own whose budget lets every join run. */
interface AttackVariant {
  kind: "flood" | "buffer";
  joins: number;
  /** Joins per write (`emitMany`). */
  chunk: number;
  /** Seed prefixes: the attacker's and the room's users must not collide with the other variant's. */
  prefix: string;
}

type WatchedSends = {
  packets: number;
  bytes: number;
  firstAt: number | null;
  lastAt: number | null;
  largest: number;
  maxWaiting: number;
  crossedAt: number | null;
  crossedPackets: number | null;
  crossedBytes: number | null;
  kernelAtCross: number | null;
};
type Watched = { connects: number[]; disconnects: { at: number; reason: string; description?: string }[]; sends: WatchedSends[]; connected: number };
type FloodResult = { start: number; floodEnd: number | null; sent: number; closedAt: number | null; stoppedByUsAt: number | null; bytesRead: number; end: number };
type AttackDelivery = DeliveryRun & { early: Summary; earlyMs: number };

interface AttackRun {
  gwName: string;
  limits: { eventBurst?: number; eventsPerSecond?: number; maxBufferedBytes?: number };
  base: AttackDelivery;
  during: AttackDelivery | undefined;
  fl: FloodResult | undefined;
  before: Mem;
  peakSampled: number;
  hwm: number | null;
  held: Mem | undefined;
  afterMem: Mem | undefined;
  watched: Watched | undefined;
  sends: WatchedSends | undefined;
  slowDelta: number | null;
  floodDelta: number | null;
  joinsAnswered: number;
  joinResults: Record<string, number>;
  joinsTotal: number;
  joinResultsTotal: Record<string, number>;
  socketsAtEnd: number | null;
  start: number;
  tcpCutMs: number | null;
  sioCut: { at: number; reason: string; description?: string } | undefined;
  sioCutMs: number | null;
  safetyAt: number | undefined;
  gone: boolean;
  /** When RSS had grown 95 % of the way to its peak (from the flood's start), and what it was when the attacker was cut off (sampled). */
  peakAtMs: number | null;
  rssAtCut: number | null;
  /** Queries waiting for one of the gateway's PostgreSQL connections at most (polled every 250 ms), the last poll that saw any, and the worst poll answer. */
  poolWaitingMax: number | null;
  poolBusyUntilMs: number | null;
  lagMax: number;
  /** Who used the CPU during the measurement without the attack, and during it (the machine may be shared). */
  cpuBase: CpuUse | null;
  cpuDuring: CpuUse | null;
  /** Which rule cut the attacker, from the gateway's counters. */
  cutBy: "the flood rule" | "the send-buffer bound" | "both rules" | "neither rule";
}

/**
 * Attack: a room of 100 stock clients on `gw` is measured (delivery latency), then measured again
 * while one raw socket in another generator, on the same gateway, floods `chat:join {after}` (each
 * answered with as many of 100 messages of 4000 characters as fit in 256 KiB) and never reads.
 * The gateway's RSS is sampled from /proc every 50 ms; which rule cut the attacker is read from
 * `gateway_event_floods_total` and `gateway_slow_consumers_total`.
 */
async function attackRun(gw: Child, clients: Child[], tokens: TokenSigner, v: AttackVariant): Promise<AttackRun> {
  if (clients.length < 2) throw new Error("attack: needs two load generators");
  const url = gw.info.url as string;
  const pid = gw.info.pid as number;
  const g = gw.name;
  const limits = (gw.info.limits ?? {}) as AttackRun["limits"];
  const [good, evil] = [clients[0]!, clients[1]!];
  const atk = await seed(database!.url, tokens, `${v.prefix}_`, 1, 1);
  const attacker = atk.users[0]!;
  const chatId = atk.chatIds[0]!;
  const { after, ids } = await seedMessages(database!.url, chatId, attacker.userId, ATTACK.messages, ATTACK.messageLength);
  const roomSeed = await seed(database!.url, tokens, `${v.prefix}room_`, ATTACK.room, 1);
  const tag = `attack (${v.kind})`;
  log(
    `${tag}: ${g} (event budget ${limits.eventBurst} + ${limits.eventsPerSecond}/s, send buffer ${limits.maxBufferedBytes} bytes): ` +
      `seeded chat ${chatId} with ${ids.length} messages of ${ATTACK.messageLength} characters (after=${after}), a room of ${ATTACK.room}`,
  );
  const measure = { senders: ATTACK.senders, perSenderRate: ATTACK.perSenderRate, durationMs: ATTACK.durationMs, earlyMs: ATTACK.earlyMs };
  await good.call("deliveryOpen", { a: url, b: url, chatId: roomSeed.chatIds[0], tokens: roomSeed.users.map((u) => u.token) }, 60_000);
  let attackerConnected = false;
  try {
    const cpuA = cpuSnapshot();
    const base = await good.call<AttackDelivery>("deliveryRun", { ...measure, senderOffset: 0 }, 60_000);
    const cpuBase = cpuUse(cpuA, cpuSnapshot());
    log(
      `${tag}: without the attack: p50 ${base.all.p50.toFixed(2)} ms, p99 ${base.all.p99.toFixed(2)} ms (first ${ATTACK.earlyMs / 1000} s: p99 ${base.early.p99.toFixed(2)} ms), ` +
        `${base.deliveries}/${base.wanted} deliveries, refused ${JSON.stringify(base.refusedCodes)}; ${cpuText(cpuBase)}`,
    );

    await gw.call("watch", { userId: attacker.userId });
    await evil.call("floodConnect", { url, token: attacker.token }, 20_000);
    attackerConnected = true;
    await sleep(300);
    const before = await mem(gw);
    const textBefore = await scrape(url);
    const joinsBefore = metricSum(textBefore, "gateway_events_total", { event: "chat:join" }) ?? 0;
    const joinResultsBefore = metricBy(textBefore, "gateway_events_total", { event: "chat:join" }, "result");
    const slowBefore = metricSum(textBefore, "gateway_slow_consumers_total");
    const floodsBefore = metricSum(textBefore, "gateway_event_floods_total");
    const peakReset = resetPeak(pid);
    log(`${tag}: before: rss ${MiB(before.rss)}, heap ${MiB(before.heapUsed)}, ${before.sockets} sockets (the room and the attacker); sending ${v.joins} chat:join, ${v.chunk} per write`);

    // RSS every 50 ms from /proc (the parent's clock; the gateway's event loop may be too busy to answer).
    const samples: { t: number; rss: number }[] = [];
    let safetyAt: number | undefined;
    let gone = false;
    const t0Attack = Date.now();
    const sampler = setInterval(() => {
      const m = procMem(pid);
      if (!m) return void (gone = true);
      samples.push({ t: Date.now() - t0Attack, rss: m.rss });
      if (m.rss > ATTACK.rssCapBytes && safetyAt === undefined) {
        safetyAt = Date.now();
        log(`${tag}: ${g} rss ${MiB(m.rss)} over the safety cap; stopping the attacker`);
        void evil.call("floodStop", undefined, 10_000).catch(() => undefined);
      }
    }, ATTACK.sampleMs);
    // The gateway's own view, polled: its socket count and the attacker's sockets (and how late it answers).
    const polls: { t: number; lagMs: number; sockets?: number; attacker?: number; poolWaiting?: number; error?: string }[] = [];
    let polling = true;
    const poller = (async () => {
      for (let i = 0; polling && i < 400; i += 1) {
        const t = Date.now();
        try {
          const w = await gw.call<{ connected: number }>("watched", undefined, 5_000);
          const n = await gw.call<number>("sockets", undefined, 5_000);
          const p = await gw.call<{ waiting: number } | null>("pool", undefined, 5_000);
          polls.push({ t: t - t0Attack, lagMs: Date.now() - t, sockets: n, attacker: w.connected, ...(p ? { poolWaiting: p.waiting } : {}) });
        } catch (err) {
          polls.push({ t: t - t0Attack, lagMs: Date.now() - t, error: (err as Error).message });
        }
        await sleep(250);
      }
    })();
    const cpuB = cpuSnapshot();
    const [floodRes, duringRes] = await Promise.allSettled([
      evil.call<FloodResult>(
        "flood",
        { chatId, after, count: v.joins, chunk: v.chunk, windowMs: ATTACK.windowMs, probeMs: ATTACK.probeMs },
        ATTACK.windowMs + 30_000,
      ),
      good.call<AttackDelivery>("deliveryRun", { ...measure, senderOffset: ATTACK.senders }, 90_000),
    ]);
    const cpuDuring = cpuUse(cpuB, cpuSnapshot());
    clearInterval(sampler);
    polling = false;
    await poller;
    const fl = floodRes.status === "fulfilled" ? floodRes.value : undefined;
    const during = duringRes.status === "fulfilled" ? duringRes.value : undefined;
    if (!fl) log(`${tag}: the flood failed: ${(floodRes as PromiseRejectedResult).reason}`);
    if (!during) log(`${tag}: the measurement during the attack failed: ${(duringRes as PromiseRejectedResult).reason}`);
    const start = fl?.start ?? t0Attack;
    const windowEnd = start + ATTACK.windowMs;
    const inWindow = samples.filter((s) => t0Attack + s.t <= windowEnd + ATTACK.sampleMs);
    const peakSampled = Math.max(before.rss, ...inWindow.map((s) => s.rss));
    // When the growth was (95 %) done: RSS stays near its peak afterwards until a GC gives memory back.
    const peakAt = inWindow.find((s) => s.rss - before.rss >= 0.95 * (peakSampled - before.rss))?.t ?? null;
    const hwm = peakReset ? (procMem(pid)?.hwm ?? null) : null;
    const watched = await gw.call<Watched>("watched", undefined, 30_000).catch(() => undefined);
    const sends = watched?.sends[0];
    const textEnd = await scrape(url);
    const delta = (now: number | null, was: number | null) => (now === null ? null : now - (was ?? 0));
    const slowDelta = delta(metricSum(textEnd, "gateway_slow_consumers_total"), slowBefore);
    const floodDelta = delta(metricSum(textEnd, "gateway_event_floods_total"), floodsBefore);
    const cutBy: AttackRun["cutBy"] =
      (floodDelta ?? 0) > 0 && (slowDelta ?? 0) > 0 ? "both rules" : (floodDelta ?? 0) > 0 ? "the flood rule" : (slowDelta ?? 0) > 0 ? "the send-buffer bound" : "neither rule";
    const joinsAnswered = (metricSum(textEnd, "gateway_events_total", { event: "chat:join" }) ?? 0) - joinsBefore;
    const joinResults = diffCounts(metricBy(textEnd, "gateway_events_total", { event: "chat:join" }, "result"), joinResultsBefore);
    const socketsAtEnd = await gw.call<number>("sockets", undefined, 30_000).catch(() => null);
    const tcpCutMs = fl?.closedAt != null ? fl.closedAt - start : null;
    const sioCut = watched?.disconnects[0];
    const sioCutMs = sioCut ? sioCut.at - start : null;
    const peakAtMs = peakAt === null ? null : t0Attack + peakAt - start;
    const cutTime = fl?.closedAt ?? sioCut?.at ?? null;
    const atCut = cutTime === null ? undefined : samples.filter((s) => t0Attack + s.t <= cutTime).at(-1);
    const rssAtCut = atCut?.rss ?? null;
    const poolPolls = polls.filter((p) => p.poolWaiting !== undefined);
    const poolWaitingMax = poolPolls.length ? Math.max(...poolPolls.map((p) => p.poolWaiting!)) : null;
    const busy = poolPolls.filter((p) => p.poolWaiting! > 0).at(-1);
    const poolBusyUntilMs = busy ? t0Attack + busy.t - start : null;
    const lagMax = Math.max(0, ...polls.map((p) => p.lagMs));
    log(
      `${tag}: window ${ATTACK.windowMs / 1000} s: ${fl?.sent ?? "?"} joins sent in ${fl?.floodEnd ? fl.floodEnd - start : "?"} ms, ${joinsAnswered} answered by ${g} in the window ${JSON.stringify(joinResults)}, ` +
        `peak rss ${MiB(peakSampled)} (+${MiB(peakSampled - before.rss)}, 95 % of it by +${peakAtMs} ms; ${rssAtCut === null ? "" : `${MiB(rssAtCut)} at the cut; `}VmHWM ${hwm === null ? "n/a" : MiB(hwm)}), ` +
        `attacker TCP ${tcpCutMs === null ? "still open" : `closed at +${tcpCutMs} ms`}, Socket.IO ${sioCut ? `disconnect at +${sioCutMs} ms (${sioCut.reason}${sioCut.description ? `: ${sioCut.description}` : ""})` : "still connected"}, ` +
        `${g} sockets ${socketsAtEnd} (before ${before.sockets}), gateway_slow_consumers_total +${slowDelta}, gateway_event_floods_total +${floodDelta} (cut by ${cutBy}), attacker read ${fl?.bytesRead ?? "?"} bytes` +
        `${safetyAt ? `, stopped by the safety cap at +${safetyAt - start} ms` : ""}${gone ? `, ${g} GONE` : ""}; ` +
        `PostgreSQL pool: up to ${poolWaitingMax} queries waiting${busy ? ` (last seen waiting at +${poolBusyUntilMs} ms)` : ""}; ${g} answered the poll within ${lagMax} ms at worst`,
    );
    if (sends) {
      const at = (t: number | null) => (t === null ? "never" : `+${t - start} ms`);
      log(
        `${tag}: ${g} made ${sends.packets} packets (${MiB(sends.bytes)}, largest ${(sends.largest / 1024).toFixed(1)} KiB) for the attacker, first ${at(sends.firstAt)}, last ${at(sends.lastAt)}; ` +
          `waiting in ${g} at most ${MiB(sends.maxWaiting)}; ` +
          (sends.crossedAt === null
            ? `never past ${limits.maxBufferedBytes} bytes`
            : `past ${limits.maxBufferedBytes} bytes at ${at(sends.crossedAt)}, after ${sends.crossedPackets} packets (${MiB(sends.crossedBytes ?? 0)} made, ${MiB(sends.kernelAtCross ?? 0)} of it taken by the kernel)`),
      );
    }
    if (during) {
      log(
        `${tag}: during the attack: p50 ${during.all.p50.toFixed(2)} ms, p99 ${during.all.p99.toFixed(2)} ms (first ${ATTACK.earlyMs / 1000} s: p99 ${during.early.p99.toFixed(2)} ms, max ${during.early.max.toFixed(1)} ms), ` +
          `${during.deliveries}/${during.wanted} deliveries, refused ${JSON.stringify(during.refusedCodes)}, ${during.disconnected} room sockets dropped; ${cpuText(cpuDuring)}`,
      );
    }

    // What the gateway still holds for a connected attacker (GC first), then the release: the attacker goes
    // away; wait (bounded) until the gateway has answered what it still had queued.
    const held = await mem(gw).catch(() => undefined);
    if (held) log(`${tag}: at the end of the window (GC, attacker's TCP connection ${fl?.closedAt != null ? `closed by ${g}` : "still open"}): rss ${MiB(held.rss)}, heap ${MiB(held.heapUsed)}, external ${MiB(held.external)}`);
    await evil.call("floodStop", undefined, 10_000).catch(() => undefined);
    attackerConnected = false;
    const releaseStart = Date.now();
    let joinsLast = -1;
    let textLast: string | null = null;
    let stableSince = Date.now();
    for (let i = 0; i < 120 && Date.now() - releaseStart < 90_000; i += 1) {
      textLast = await scrape(url);
      const n = metricSum(textLast, "gateway_events_total", { event: "chat:join" });
      const socketsNow = await gw.call<number>("sockets", undefined, 10_000).catch(() => -1);
      if (n !== joinsLast) {
        joinsLast = n ?? -1;
        stableSince = Date.now();
      } else if (Date.now() - stableSince >= 2_000 && socketsNow <= ATTACK.room) break;
      await sleep(500);
    }
    const joinsTotal = joinsLast - joinsBefore;
    const joinResultsTotal = diffCounts(metricBy(textLast, "gateway_events_total", { event: "chat:join" }, "result"), joinResultsBefore);
    const afterMem = await mem(gw).catch(() => undefined);
    log(
      `${tag}: after (attacker gone, ${((Date.now() - releaseStart) / 1000).toFixed(1)} s to settle, ${joinsTotal} joins answered in all ${JSON.stringify(joinResultsTotal)}): ` +
        `${afterMem ? `rss ${MiB(afterMem.rss)}, heap ${MiB(afterMem.heapUsed)}, ${afterMem.sockets} sockets` : `${g} did not answer`}`,
    );
    results.details[v.kind === "flood" ? "attack" : "attackBuffer"] = {
      ...ATTACK,
      ...v,
      gateway: g,
      limits,
      after,
      before,
      peakRssSampled: peakSampled,
      peakAtMs,
      rssAtCut,
      poolWaitingMax,
      poolBusyUntilMs,
      lagMax,
      vmHwm: hwm,
      samples: samples.length,
      rssSeries: samples.filter((_, i) => i % 4 === 0),
      flood: fl ?? String((floodRes as PromiseRejectedResult).reason),
      watched,
      polls,
      joinsAnsweredInWindow: joinsAnswered,
      joinsAnsweredInAll: joinsTotal,
      joinResultsInWindow: joinResults,
      joinResultsInAll: joinResultsTotal,
      slowConsumers: slowDelta,
      eventFloods: floodDelta,
      cutBy,
      socketsAtEnd,
      heldAtWindowEnd: held,
      afterRelease: afterMem,
      safetyStopAt: safetyAt ? safetyAt - start : null,
      baseline: base,
      during: during ?? String((duringRes as PromiseRejectedResult).reason),
      cpuBase,
      cpuDuring,
    };
    return {
      gwName: g,
      limits,
      base,
      during,
      fl,
      before,
      peakSampled,
      hwm,
      held,
      afterMem,
      watched,
      sends,
      slowDelta,
      floodDelta,
      joinsAnswered,
      joinResults,
      joinsTotal,
      joinResultsTotal,
      socketsAtEnd,
      start,
      tcpCutMs,
      sioCut,
      sioCutMs,
      safetyAt,
      gone,
      peakAtMs,
      rssAtCut,
      poolWaitingMax,
      poolBusyUntilMs,
      lagMax,
      cpuBase,
      cpuDuring,
      cutBy,
    };
  } finally {
    if (attackerConnected) await evil.call("floodStop", undefined, 10_000).catch(() => undefined);
    await good.call("deliveryClose", undefined, 10_000).catch(() => undefined);
  }
}

/** The RSS note both variants share: before, peak, at the window's end, after the release; joins answered. */
function rssNote(r: AttackRun, joins: number): string {
  const { before, peakSampled, hwm, held, afterMem, fl, safetyAt, gone, start } = r;
  return (
    `rss before ${MiB(before.rss)} (after GC), peak ${MiB(peakSampled)} (95 % of the growth by +${r.peakAtMs} ms) sampled every ${ATTACK.sampleMs} ms over ${ATTACK.windowMs / 1000} s` +
    `${r.rssAtCut === null ? "" : ` (${MiB(r.rssAtCut)} when the attacker was cut off at +${r.tcpCutMs ?? r.sioCutMs} ms)`}` +
    `${hwm === null ? "" : ` (VmHWM ${MiB(hwm)})`}, at the window's end (GC) ${held ? `rss ${MiB(held.rss)}, heap ${MiB(held.heapUsed)}` : "no answer"}, after the attacker left and GC ${afterMem ? `rss ${MiB(afterMem.rss)}, heap ${MiB(afterMem.heapUsed)} (before ${MiB(before.heapUsed)})` : "no answer"}; ` +
    `${r.joinsAnswered} of ${fl?.sent ?? "?"}/${joins} joins answered in the window ${JSON.stringify(r.joinResults)}, ${r.joinsTotal} in all ${JSON.stringify(r.joinResultsTotal)}` +
    `${safetyAt ? `; attacker stopped at the ${MiB(ATTACK.rssCapBytes)} safety cap at +${safetyAt - start} ms` : ""}${gone ? `; ${r.gwName} died` : ""}`
  );
}

const rules = (r: AttackRun) => `gateway_event_floods_total +${r.floodDelta ?? "null"}, gateway_slow_consumers_total +${r.slowDelta ?? "null"}`;

function p99Row(r: AttackRun, figure: string): void {
  const { base, during } = r;
  if (!during) {
    row({ figure, ours: null, baseline: base.all.p99, unit: "ms", ratio: null, target: "≤ 1.2x", met: false, note: "the measurement during the attack failed" });
    return;
  }
  const expected = during.acked * during.roomSize;
  const timeouts = during.refusedCodes["ack timeout"] ?? 0;
  const ratio = during.all.p99 / base.all.p99;
  row({
    figure,
    ours: during.all.p99,
    baseline: base.all.p99,
    unit: "ms",
    ratio,
    target: "≤ 1.2x",
    met: ratio <= 1.2 && during.deliveries >= expected && timeouts === 0,
    note:
      `p50 ${during.all.p50.toFixed(2)} vs ${base.all.p50.toFixed(2)} ms; messages sent in the first ${ATTACK.earlyMs / 1000} s: p99 ${during.early.p99.toFixed(2)} vs ${base.early.p99.toFixed(2)} ms, ` +
      `max ${during.early.max.toFixed(1)} vs ${base.early.max.toFixed(1)} ms; during: ${during.deliveries}/${during.wanted} deliveries, ${during.acked}/${during.sent} sends acked, ` +
      `refused ${JSON.stringify(during.refusedCodes)}, ${during.disconnected} room sockets dropped; without: ${base.deliveries}/${base.wanted}, refused ${JSON.stringify(base.refusedCodes)}; ` +
      `${r.gwName}'s PostgreSQL pool had up to ${r.poolWaitingMax ?? "?"} queries waiting${r.poolBusyUntilMs === null ? "" : ` (the last seen at +${r.poolBusyUntilMs} ms)`}, ` +
      `its event loop answered a 250 ms poll within ${r.lagMax} ms at worst; other processes on the machine used ` +
      `${r.cpuDuring ? r.cpuDuring.others.toFixed(1) : "?"} CPU-s during, ${r.cpuBase ? r.cpuBase.others.toFixed(1) : "?"} without`,
  });
}

/** The default budget: the flood rule is meant to cut the attacker long before 1 MiB waits. */
async function attackFloodPhase(gw: Child, clients: Child[], tokens: TokenSigner) {
  const v: AttackVariant = { kind: "flood", joins: ATTACK.joins, chunk: ATTACK.chunk, prefix: "atk" };
  const r = await attackRun(gw, clients, tokens, v);
  const budget = `event budget ${r.limits.eventBurst} + ${r.limits.eventsPerSecond}/s`;
  const stopped = r.cutBy === "neither rule" ? "not stopped by either rule" : `stopped by ${r.cutBy}`;
  const growthMB = (r.peakSampled - r.before.rss) / 1e6;
  row({
    figure: `gateway RSS growth while one socket floods ${v.joins} chat:join {after} and reads nothing (${budget}: ${stopped})`,
    ours: growthMB,
    baseline: null,
    unit: "MB",
    ratio: null,
    target: "≤ 50 MB",
    met: !r.gone && r.safetyAt === undefined && growthMB <= 50,
    note: `${rssNote(r, v.joins)}; ${rules(r)}`,
  });
  const cutMs = r.tcpCutMs;
  row({
    figure: `flood cut-off (${budget}): time from flood start to disconnect, by ${r.cutBy}`,
    ours: cutMs,
    baseline: null,
    unit: "ms",
    ratio: null,
    target: "≤ 2 s, by either rule",
    met: cutMs !== null && cutMs <= 2_000 && r.cutBy !== "neither rule",
    note:
      `TCP ${cutMs === null ? `still open after ${ATTACK.windowMs / 1000} s` : `closed by ${r.gwName} at +${cutMs} ms`} (seen at the attacker's next ${ATTACK.probeMs} ms probe); Socket.IO ` +
      `${r.sioCut ? `disconnect at +${r.sioCutMs} ms (${r.sioCut.reason})` : "socket still connected"}; ${r.gwName} sockets ${r.before.sockets} → ${r.socketsAtEnd}; ${rules(r)}; ` +
      `the attacker read ${r.fl?.bytesRead ?? "?"} bytes; ${r.sends ? `${r.gwName} made ${MiB(r.sends.bytes)} for it, at most ${MiB(r.sends.maxWaiting)} waiting in the gateway` : "no send figures"}`,
  });
  p99Row(r, `delivery p99 for ${ATTACK.room} clients during the flood vs without (one gateway, the attacker's, ${ATTACK.senders * ATTACK.perSenderRate} msg/s)`);
}

/**
 * The send-buffer bound itself: a gateway of its own whose event budget (4000) lets all 300 catch-ups
 * run, so that only the bound can stop a socket that reads none of their ~256 KiB answers.
 */
async function attackBufferPhase(gw: Child, clients: Child[], tokens: TokenSigner) {
  const v: AttackVariant = { kind: "buffer", joins: ATTACK_BUFFER.joins, chunk: ATTACK_BUFFER.joins, prefix: "atkb" };
  const r = await attackRun(gw, clients, tokens, v);
  const growthMB = (r.peakSampled - r.before.rss) / 1e6;
  const s = r.sends;
  const max = r.limits.maxBufferedBytes ?? 2 ** 20;
  const answerKiB = s ? `the largest answer ${(s.largest / 1024).toFixed(1)} KiB` : "answer size unknown";
  row({
    figure: `gateway RSS growth while one socket asks for ${v.joins} × 256 KiB and reads nothing (event budget raised to ${r.limits.eventBurst}, so the send-buffer bound stops it)`,
    ours: growthMB,
    baseline: null,
    unit: "MB",
    ratio: null,
    target: "≤ 50 MB",
    met: !r.gone && r.safetyAt === undefined && growthMB <= 50,
    note: `${rssNote(r, v.joins)}; ${answerKiB}; ${rules(r)}, so stopped by ${r.cutBy}`,
  });
  const cutAt = r.fl?.closedAt ?? null;
  const sinceCross = cutAt !== null && s?.crossedAt != null ? cutAt - s.crossedAt : null;
  const crossMs = s?.crossedAt != null ? s.crossedAt - r.start : null;
  row({
    figure: "send-buffer cut: time from flood start to disconnect",
    ours: r.tcpCutMs,
    baseline: null,
    unit: "ms",
    ratio: null,
    target: `within 2 s of crossing ${max === 2 ** 20 ? "1 MiB" : `${max} bytes`}`,
    met: sinceCross !== null && sinceCross <= 2_000 && r.slowDelta === 1 && r.floodDelta === 0,
    note:
      `${max} bytes first waiting in ${r.gwName} at ${crossMs === null ? "never" : `+${crossMs} ms`}` +
      `${s && s.crossedAt !== null ? `, after ${s.crossedPackets} packets (${MiB(s.crossedBytes ?? 0)} made for the attacker, ${MiB(s.kernelAtCross ?? 0)} of it already taken by the kernel's socket buffers)` : ""}; ` +
      `Socket.IO disconnect at ${r.sioCut ? `+${r.sioCutMs} ms (${r.sioCut.reason})` : "never (still connected)"}; TCP ${r.tcpCutMs === null ? `still open after ${ATTACK.windowMs / 1000} s` : `closed at +${r.tcpCutMs} ms (seen at the attacker's next ${ATTACK.probeMs} ms probe)`}` +
      `${sinceCross === null ? "" : `, ${sinceCross} ms after the crossing`}; ${rules(r)}; the attacker read ${r.fl?.bytesRead ?? "?"} bytes (it reads nothing after the handshake); ` +
      `${s ? `${r.gwName} made ${s.packets} packets, ${MiB(s.bytes)} for it in all, ${answerKiB}; the other ${r.joinsTotal - s.packets} catch-ups ran after the socket was dropped (answered to nobody)` : "no send figures"}; ` +
      `${r.gwName} sockets ${r.before.sockets} → ${r.socketsAtEnd}`,
  });
  p99Row(r, `delivery p99 for ${ATTACK.room} clients during the send-buffer attack vs without (one gateway, the attacker's: ${r.gwName}, ${ATTACK.senders * ATTACK.perSenderRate} msg/s)`);
}

/** Sharded-channel subscriptions on the Redis Cluster: per gateway (CLIENT LIST `ssub` of its connections, named gateway-<pid>:…), and per channel (PUBSUB SHARDCHANNELS, SHARDNUMSUB on every master). */
interface ShardSubs {
  /** Σ ssub over every connection to every node. */
  total: number;
  perGateway: Record<string, number>;
  /** Subscriptions on connections no gateway's name matched. */
  unattributed: number;
  /** Distinct sharded channels with a subscriber, over the masters; and Σ SHARDNUMSUB of them. */
  channels: number;
  numsub: number;
  /** How many of those channels are chat rooms (`wsac:io#/#chat:…#`). */
  chatChannels: number;
}

async function shardSubs(cl: BenchRedisCluster, gws: Child[]): Promise<ShardSubs> {
  const out: ShardSubs = { total: 0, perGateway: Object.fromEntries(gws.map((g) => [g.name, 0])), unattributed: 0, channels: 0, numsub: 0, chatChannels: 0 };
  for (const port of cl.ports) {
    for (const c of await clientList(port).catch(() => [])) {
      const n = Number(c.ssub ?? 0);
      if (!n) continue;
      out.total += n;
      const g = gws.find((x) => (c.name ?? "").includes(`gateway-${x.info.pid}:`));
      if (g) out.perGateway[g.name]! += n;
      else out.unattributed += n;
    }
  }
  for (const port of await cl.masters()) {
    const list = (await cl.cli(port, "pubsub", "shardchannels")).split("\n").filter(Boolean);
    out.channels += list.length;
    out.chatChannels += list.filter((c) => c.startsWith("wsac:io#/#chat:")).length;
    for (let i = 0; i < list.length; i += 200) {
      const lines = (await cl.cli(port, "pubsub", "shardnumsub", ...list.slice(i, i + 200))).split("\n");
      for (let k = 1; k < lines.length; k += 2) out.numsub += Number(lines[k]);
    }
  }
  return out;
}

/** Sharded subscriptions once they stop changing (two equal reads 300 ms apart; `until` may end it early), bounded to `ms`. */
async function settledSubs(cl: BenchRedisCluster, gws: Child[], until: (s: ShardSubs) => boolean = () => false, ms = 6_000): Promise<ShardSubs> {
  const deadline = Date.now() + ms;
  let last = await shardSubs(cl, gws);
  for (let i = 0; i < 40 && Date.now() < deadline && !until(last); i += 1) {
    await sleep(300);
    const next = await shardSubs(cl, gws);
    const same = next.total === last.total && next.numsub === last.numsub;
    last = next;
    if (same) break;
  }
  return last;
}

const subsText = (s: ShardSubs) =>
  `${s.total} subscriptions (${Object.entries(s.perGateway)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}${s.unattributed ? `, unattributed ${s.unattributed}` : ""}), ${s.channels} channels (${s.chatChannels} chat rooms), Σ SHARDNUMSUB ${s.numsub}`;

/** Closes every load generator's sockets, then waits (bounded) until none is left on any of `servers`. */
async function closeAllOn(clients: Child[], servers: Child[]): Promise<void> {
  await Promise.all(clients.map((c) => c.call("closeAll", undefined, 60_000)));
  for (const server of servers) for (let i = 0; i < 100 && (await server.call<number>("sockets")) > 0; i += 1) await sleep(100);
}

/**
 * `--only=presence` (issue 12's figures): handshake CPU and Redis commands with presence against
 * without it (two gateways of the phase's own, PRESENCE=on and off, same load: each handshake
 * joins one of 200 chats); `GET /chats/:id/presence` latency for a chat with 10,000 online (the
 * entries written through the store as 10,000 gateways' sockets would); the time from kill -9 of
 * a gateway holding 200 users of a chat to the last of their presence:leave at a watcher elsewhere.
 */
/** With --profile: node's CPU profiles of a child (one per thread; tsx adds a loader thread) into bench/results/prof/<name>. */
const profiling = (name: string) => (PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${join(RESULTS, "prof", name)}`] : []);

async function presencePhase(clients: Child[], tokens: TokenSigner, env: Record<string, string>, serverFile: string) {
  const P = { chats: 200, online: 10_000, gets: 400, victims: 200 };
  const seeded = await seed(database!.url, tokens, "pres_", HANDSHAKE_ROUND, P.chats);
  const load = seeded.users.map((u, i) => ({ token: u.token, chat: seeded.chatOf(i) }));
  const limits = { MESSAGE_LIMIT_PER_USER: "1000000", SOCKET_EVENT_BURST: "100000", SOCKET_EVENT_RATE: "100000" };
  const [on, off, api] = await Promise.all([
    spawnChild("gw-presence", serverFile, { env: { ...env, ...limits, BENCH_MODE: "ours", PRESENCE: "on" }, nodeFlags: ["--expose-gc", ...profiling(`presence-on`)] }),
    spawnChild("gw-no-presence", serverFile, { env: { ...env, ...limits, BENCH_MODE: "ours", PRESENCE: "off" }, nodeFlags: ["--expose-gc", ...profiling(`presence-off`)] }),
    spawnChild("api-presence", serverFile, { env: { ...env, BENCH_MODE: "api" } }),
  ]);
  const others: Child[] = [];
  try {
    // 1. Handshakes (each into a chat) with and without presence, and Redis commands per handshake.
    const commandsNow = async () => Number((await redisInfo(redis!.port, "stats")).total_commands_processed ?? 0);
    const perHandshake: Record<string, number> = {};
    for (const [name, gw] of [["on", on], ["off", off]] as const) {
      const before = await commandsNow();
      const res = await connectAll(clients, gw.info.url as string, load.slice(0, 2_000));
      await closeAll(clients, gw);
      await sleep(1_500); // the leaves' scripts
      perHandshake[name] = ((await commandsNow()) - before - 2) / Math.max(1, res.ok);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rounds: Record<string, Record<string, HandshakeRound[]>> = {};
    for (const mode of ["fresh", "reconnect"] as const) {
      const r = (rounds[mode] = await handshakeRounds(`presence handshakes (${mode})`, [["off", off], ["on", on]], clients, load, {}, mode));
      const cpuOn = med(r.on!.map((x) => x.cpuUsPerHandshake));
      const cpuOff = med(r.off!.map((x) => x.cpuUsPerHandshake));
      row({
        figure:
          mode === "fresh"
            ? "presence: gateway CPU per handshake into a chat, fresh joins (each announced to the chat's others), with presence vs without (PRESENCE=off; median of 3 rounds)"
            : "presence: gateway CPU per handshake into a chat, reconnects within the 10 s grace (nothing announced), with presence vs without (PRESENCE=off; median of 3 rounds)",
        ours: cpuOn,
        baseline: cpuOff,
        unit: "µs",
        ratio: cpuOn / cpuOff,
        target: "≤ 1.1x",
        met: cpuOn / cpuOff <= 1.1,
        note: `rounds: with ${r.on!.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")}, without ${r.off!.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")} µs`,
      });
    }
    row({
      figure: "presence: Redis commands executed per connect into a chat and disconnect (2000 sockets each in one of 200 chats; join and leave scripts' inner commands count)",
      ours: perHandshake.on!,
      baseline: perHandshake.off!,
      unit: "",
      ratio: null,
      target: "small constant",
      met: perHandshake.on! - perHandshake.off! <= 20,
      note: `${(perHandshake.on! - perHandshake.off!).toFixed(1)} more with presence`,
    });

    // 2. GET /chats/:id/presence for a chat with 10,000 online.
    const chatId = seeded.chatIds[0]!;
    const caller = seeded.users[0]!;
    const client = new Redis(redis!.url);
    try {
      const store = new RedisPresence(client);
      const getLatencies = async (chat: string, n: number) => {
        const out: number[] = [];
        let body = { count: 0, users: [] as unknown[] };
        for (let i = 0; i < n; i += 1) {
          const t = performance.now();
          const res = await fetch(`${api.info.url}/chats/${chat}/presence`, { headers: { authorization: `Bearer ${caller.token}` } });
          body = (await res.json()) as typeof body;
          out.push(performance.now() - t);
        }
        return { s: summary(out), body };
      };
      // The same call on a chat nobody is online in: what the api costs before presence's own part.
      const empty = await getLatencies(chatId, P.gets);
      const memBefore = Number((await redisInfo(redis!.port, "memory")).used_memory ?? 0);
      for (let i = 0; i < P.online; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, P.online - i) }, (_, k) => store.join("bench-gateway", chatId, { id: randomUUID(), username: `online_${i + k}` })),
        );
      }
      const memAfter = Number((await redisInfo(redis!.port, "memory")).used_memory ?? 0);
      const full = await getLatencies(chatId, P.gets);
      const s = full.s;
      const count = full.body.count;
      const listed = full.body.users.length;
      row({
        figure: `presence: GET /chats/:id/presence for a chat with ${P.online.toLocaleString("en")} online, p99 (${P.gets} sequential requests to one api process)`,
        ours: s.p99,
        baseline: empty.s.p99,
        unit: "ms",
        ratio: s.p99 / empty.s.p99,
        target: "≤ 10 ms",
        met: s.p99 <= 10,
        note: `baseline: the same call on a chat with nobody online; p50 ${s.p50.toFixed(2)} vs ${empty.s.p50.toFixed(2)} ms; count ${count}, ${listed} listed; Redis memory per online entry ${((memAfter - memBefore) / P.online).toFixed(0)} B (counts, names and the gateway's set)`,
      });
      results.details.presence = { perHandshake, rounds, get: s, online: P.online, redisBytesPerEntry: (memAfter - memBefore) / P.online };
    } finally {
      client.disconnect();
    }

    // 3. kill -9 of a gateway holding 200 users of a chat: their leaves at a watcher on another gateway.
    const victimChat = seeded.chatIds[1]!;
    const inChat = seeded.users.filter((_, i) => seeded.chatOf(i) === victimChat);
    const victim = await spawnChild("gw-victim", serverFile, { env: { ...env, ...limits, BENCH_MODE: "ours" } });
    others.push(victim);
    const procFile = join(__dirname, "lib/stored-proc.ts");
    const [watcher, holder] = await Promise.all([spawnChild("presence-watcher", procFile), spawnChild("presence-holder", procFile, { env: { BENCH_LOCAL_ADDRESS: "127.0.0.7" } })]);
    others.push(watcher, holder);
    await watcher.call("watchPresence", { url: on.info.url, token: inChat[0]!.token, chatId: victimChat });
    // The chat's users were connected in the rounds above: until their grace there has run out, a
    // leave the watcher hears may be that one (the victim's sweep then leaves them on no gateway).
    // So the victim takes them once only the watcher is online in the chat (bounded wait).
    const onlineInChat = async () => {
      const res = await fetch(`${api.info.url}/chats/${victimChat}/presence`, { headers: { authorization: `Bearer ${inChat[0]!.token}` } });
      return ((await res.json()) as { count: number }).count;
    };
    const graceWaitStart = Date.now();
    while (Date.now() - graceWaitStart < GRACE_MS + 5_000 && (await onlineInChat()) > 1) await sleep(250);
    await holder.call("open", { url: victim.info.url, items: inChat.slice(1).map((u) => ({ token: u.token, chatId: victimChat })) }, 60_000);
    await sleep(2_000);
    const killedAt = Date.now();
    victim.proc.kill("SIGKILL");
    const wanted = inChat.length - 1;
    // The held users' leaves since the kill (the watcher hears every leave in the chat since it joined).
    const held = new Set(inChat.slice(1).map((u) => u.userId));
    let leaves: { user: string; at: number }[] = [];
    for (let i = 0; i < 250 && Date.now() - killedAt < 25_000; i += 1) {
      leaves = (await watcher.call<{ leaves: { user: string; at: number }[] }>("presenceSeen")).leaves.filter((l) => held.has(l.user) && l.at >= killedAt);
      if (leaves.length >= wanted) break;
      await sleep(100);
    }
    const last = leaves.length ? Math.max(...leaves.map((l) => l.at)) - killedAt : NaN;
    const first = leaves.length ? Math.min(...leaves.map((l) => l.at)) - killedAt : NaN;
    row({
      figure: `presence: kill -9 of a gateway holding ${wanted} users of a chat → the last of their presence:leave at a watcher on another gateway`,
      ours: last,
      baseline: null,
      unit: "ms",
      ratio: null,
      target: "≤ 15 s, every leave",
      met: leaves.length >= wanted && last <= 15_000,
      note: `${leaves.length}/${wanted} leaves, the first at ${first.toFixed(0)} ms`,
    });
    (results.details.presence as Record<string, unknown>).kill = { wanted, got: leaves.length, firstMs: first, lastMs: last };
  } finally {
    await Promise.all([on, off, api, ...others].map((c) => c.stop()));
  }
}

/**
 * `--only=cluster` (issue 10's figures): the same gateways and load on one redis-server and on a
 * 3-master Redis Cluster, side by side: cross-gateway delivery latency and saturation, sharded
 * subscriptions per socket and per chat, handshake rate and CPU.
 */
async function clusterPhase(clients: Child[], tokens: TokenSigner, baseEnv: Record<string, string>, serverFile: string) {
  const started = Date.now();
  redisCluster = await startBenchRedisCluster();
  const cl = redisCluster;
  adoptPids(cl.pids());
  const masters = await cl.masters();
  log(`cluster: Redis Cluster on ${cl.seeds} (masters ${masters.join(", ")}), started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const connectionsReceived = async () => {
    let n = 0;
    for (const port of cl.ports) n += Number((await redisInfo(port, "stats")).total_connections_received ?? 0);
    return n;
  };
  const cliBefore = cl.ports.reduce((a, p) => a + (cliRuns.get(p) ?? 0), 0);
  const connsBefore = await connectionsReceived();
  const env = { ...baseEnv, ...CLUSTER.env, BENCH_MODE: "ours" };
  const spawnOpts = (cluster: boolean) => ({ env: { ...env, ...(cluster ? { BENCH_REDIS_CLUSTER_NODES: cl.seeds } : {}) }, nodeFlags: ["--expose-gc"] });
  const [spawned, hs, roomOne, roomCl] = await Promise.all([
    Promise.allSettled([
      spawnChild("gw-one-a", serverFile, spawnOpts(false)),
      spawnChild("gw-one-b", serverFile, spawnOpts(false)),
      spawnChild("gw-cl-a", serverFile, spawnOpts(true)),
      spawnChild("gw-cl-b", serverFile, spawnOpts(true)),
    ]),
    seed(database!.url, tokens, "clhs_", CLUSTER.handshakeUsers, CLUSTER.chats),
    seed(database!.url, tokens, "clone_", CLUSTER.room, 1),
    seed(database!.url, tokens, "clcl_", CLUSTER.room, 1),
  ]);
  const gws = spawned.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  try {
    const failed = spawned.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [oneA, oneB, clA, clB] = gws as [Child, Child, Child, Child];
    log(
      `cluster: ${gws.map((g) => `${g.name} (pid ${g.info.pid}, ${g.info.redis})`).join(", ")}; limits ${JSON.stringify(clA.info.limits)} on both pairs ` +
        `(${Object.entries(CLUSTER.env)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")})`,
    );
    // Redis CPU-seconds used so far less the idle rate (what the same time would have cost with no load).
    const clusterRedisGross = async () => (await Promise.all(cl.ports.map((p) => redisCpuSeconds(p)))).reduce((a, b) => a + b, 0);
    const oneRedisGross = () => redisCpuSeconds(redis!.port);
    const idleRate = async (gross: () => Promise<number>) => {
      const [a, t] = [await gross(), Date.now()];
      await sleep(CLUSTER.redisIdleMs);
      return ((await gross()) - a) / ((Date.now() - t) / 1000);
    };
    const [clIdle, oneIdle] = await Promise.all([idleRate(clusterRedisGross), idleRate(oneRedisGross)]);
    const t0Redis = Date.now();
    const net = (gross: () => Promise<number>, rate: number) => async () => (await gross()) - (rate * (Date.now() - t0Redis)) / 1000;
    const clusterRedisCpu = net(clusterRedisGross, clIdle);
    const oneRedisCpu = net(oneRedisGross, oneIdle);
    log(`cluster: idle Redis CPU (left out of the per-message and per-handshake figures): Redis Cluster (6 nodes) ${(clIdle * 1000).toFixed(1)} ms/s, one redis-server ${(oneIdle * 1000).toFixed(1)} ms/s`);
    const pair = [clA, clB];
    const details: Record<string, unknown> = { seeds: cl.seeds, masters, env: CLUSTER.env, limits: clA.info.limits, redisIdleCpuPerSecond: { cluster: clIdle, one: oneIdle } };
    results.details.cluster = details;

    // 2. Sharded subscriptions: idle, with sockets in no chat, with sockets in chats, after all left.
    const base = await settledSubs(cl, pair);
    log(`cluster: subscriptions, no socket: ${subsText(base)}`);
    const idle = hs.users.slice(0, CLUSTER.idleSockets).map((u) => ({ token: u.token }));
    const idleRes = [await connectAll(clients, clA.info.url as string, idle.filter((_, i) => i % 2 === 0)), await connectAll(clients, clB.info.url as string, idle.filter((_, i) => i % 2 === 1))];
    const idleOk = idleRes.reduce((a, r) => a + r.ok, 0);
    const withIdle = await settledSubs(cl, pair);
    log(`cluster: subscriptions with ${idleOk} sockets in no chat (${idleRes.map((r) => r.failed).join("+")} failed): ${subsText(withIdle)}`);
    await closeAllOn(clients, pair);
    const chatItems = hs.users.slice(0, CLUSTER.chatSockets).map((u, i) => ({ token: u.token, chat: hs.chatOf(i)!, side: Math.floor(i / CLUSTER.chats) % 2 }));
    const chatRes = [
      await connectAll(clients, clA.info.url as string, chatItems.filter((x) => x.side === 0)),
      await connectAll(clients, clB.info.url as string, chatItems.filter((x) => x.side === 1)),
    ];
    const chatOk = chatRes.reduce((a, r) => a + r.ok, 0);
    // Chat × gateway pairs that hold at least one socket (from what was connected).
    const pairs = new Set(chatItems.map((x) => `${x.chat}/${x.side}`)).size;
    const withChats = await settledSubs(cl, pair);
    log(`cluster: subscriptions with ${chatOk} sockets in ${CLUSTER.chats} chats (${pairs} chat × gateway pairs, ${CLUSTER.chatSockets / pairs} sockets each; ${chatRes.map((r) => r.failed).join("+")} failed): ${subsText(withChats)}`);
    // What the gateways' ioredis cluster subscribers keep to re-subscribe after a failover (their own list, not Redis's).
    const kept = await Promise.all(pair.map((g) => g.call<{ entries: number; distinct: number } | null>("shardChannels")));
    log(`cluster: ioredis's sharded-subscriber channel lists now: ${pair.map((g, i) => `${g.name} ${kept[i] ? `${kept[i]!.entries} entries for ${kept[i]!.distinct} channels` : "n/a"}`).join(", ")}`);
    await closeAllOn(clients, pair);
    const afterAll = await settledSubs(cl, pair, (s) => s.total === base.total, 8_000);
    log(`cluster: subscriptions after every socket left: ${subsText(afterAll)}`);
    details.subscriptions = { base, idle: { sockets: idleOk, subs: withIdle }, chats: { sockets: chatOk, pairs, subs: withChats, ioredisChannelLists: kept }, afterAll };
    const perIdle = (withIdle.total - base.total) / Math.max(1, idleOk);
    row({
      figure: `Redis Cluster: SSUBSCRIBEs per connected socket that joins no chat (${idleOk} sockets over 2 gateways)`,
      ours: perIdle,
      baseline: null,
      unit: "",
      ratio: null,
      target: "0",
      met: withIdle.total === base.total && idleOk === CLUSTER.idleSockets,
      note: `subscriptions ${base.total} → ${withIdle.total} (the adapter's 2 namespace channels per gateway: ${Object.values(base.perGateway).join(" + ")})`,
    });
    const perPair = (withChats.total - base.total) / Math.max(1, pairs);
    row({
      figure: `Redis Cluster: sharded subscriptions per chat per gateway (${chatOk} sockets in ${CLUSTER.chats} chats, ${CLUSTER.chatSockets / pairs} sockets per chat on each of 2 gateways)`,
      ours: perPair,
      baseline: null,
      unit: "",
      ratio: null,
      target: "≤ 1",
      met: perPair <= 1 && chatOk === CLUSTER.chatSockets,
      note:
        `subscriptions ${base.total} → ${withChats.total} for ${pairs} chat × gateway pairs; ${withChats.chatChannels} chat channels on the cluster, Σ SHARDNUMSUB ${withChats.numsub}; ` +
        `after every socket left: ${afterAll.total}${afterAll.unattributed ? `, ${afterAll.unattributed} unattributed` : ""}`,
    });

    // 3. Handshakes: a gateway on the cluster vs one on one Redis (same method as the handshake phase).
    const hsItems = hs.users.map((u, i) => ({ token: u.token, chat: hs.chatOf(i) }));
    const hr = await handshakeRounds("cluster handshakes", [["one Redis", oneA], ["Redis Cluster", clA]], clients, hsItems, { "one Redis": oneRedisCpu, "Redis Cluster": clusterRedisCpu });
    details.handshakes = hr;
    const best = (xs: HandshakeRound[]) => Math.max(...xs.map((x) => x.rate));
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const hc = best(hr["Redis Cluster"]!);
    const h1 = best(hr["one Redis"]!);
    const suspect = [...hr["Redis Cluster"]!, ...hr["one Redis"]!].filter((x) => disturbed(x.cpu)).length;
    const othersNote = (xs: HandshakeRound[]) => xs.map((x) => (x.cpu ? x.cpu.others.toFixed(1) : "?")).join("/");
    row({
      figure: `handshakes/s, gateway on a 3-master Redis Cluster vs on one redis-server (${HANDSHAKE_ROUND} connections each in one of ${CLUSTER.chats} chats, ${CLIENTS * PER_CLIENT_CONCURRENCY} in flight, best of ${HANDSHAKE_ROUNDS})`,
      ours: hc,
      baseline: h1,
      unit: "/s",
      ratio: hc / h1,
      target: "≥ 0.95x",
      met: hc / h1 >= 0.95,
      note: `other processes' CPU-s per round: cluster ${othersNote(hr["Redis Cluster"]!)}, one Redis ${othersNote(hr["one Redis"]!)}${suspect ? `; ${suspect} rounds disturbed` : ""}`,
    });
    const cc = med(hr["Redis Cluster"]!.map((x) => x.cpuUsPerHandshake));
    const c1 = med(hr["one Redis"]!.map((x) => x.cpuUsPerHandshake));
    const rc = med(hr["Redis Cluster"]!.map((x) => x.redisUsPerHandshake ?? NaN));
    const r1 = med(hr["one Redis"]!.map((x) => x.redisUsPerHandshake ?? NaN));
    row({
      figure: "gateway CPU per handshake, Redis Cluster vs one redis-server (median round)",
      ours: cc,
      baseline: c1,
      unit: "µs",
      ratio: cc / c1,
      target: "≤ 1.05x (≥ 0.95x handshakes per CPU-s)",
      met: cc / c1 <= 1 / 0.95,
      note: `Redis CPU per handshake (all nodes, idle rate left out, median round): ${rc.toFixed(0)} µs vs ${r1.toFixed(0)} µs`,
    });

    // 1a. Cross-gateway delivery latency, as in the delivery phase: a room of 100, half on each gateway, 20 msg/s.
    type Dlv = { single: Summary; cross: Summary; sent: number; acked: number; refused: number; deliveries: number; wanted: number; late: number };
    const latency: Record<string, Dlv & { cpu: CpuUse | null }> = {};
    for (const [name, a, b, room] of [
      ["one Redis", oneA, oneB, roomOne],
      ["Redis Cluster", clA, clB, roomCl],
    ] as const) {
      const m0 = cpuSnapshot();
      const res = await clients[0]!.call<Dlv>("delivery", { a: a.info.url, b: b.info.url, chatId: room.chatIds[0], tokens: room.users.map((u) => u.token), ...DELIVERY }, 120_000);
      const cpu = cpuUse(m0, cpuSnapshot());
      latency[name] = { ...res, cpu };
      log(
        `cluster: delivery on ${name}: across p50 ${res.cross.p50.toFixed(2)} ms, p99 ${res.cross.p99.toFixed(2)} ms; within one gateway p50 ${res.single.p50.toFixed(2)}, p99 ${res.single.p99.toFixed(2)} ms; ` +
          `${res.deliveries}/${res.wanted} deliveries, ${res.refused} refused, ${res.late} unmatched; ${cpuText(cpu)}${disturbed(cpu) ? " (DISTURBED)" : ""}`,
      );
    }
    details.latency = latency;
    const lc = latency["Redis Cluster"]!;
    const l1 = latency["one Redis"]!;
    const stated = `room of ${DELIVERY.room} (half on each of 2 gateways), ${DELIVERY.senders * DELIVERY.perSenderRate} msg/s`;
    row({ figure: `cross-gateway delivery p50, Redis Cluster vs one redis-server (${stated})`, ours: lc.cross.p50, baseline: l1.cross.p50, unit: "ms", ratio: lc.cross.p50 / l1.cross.p50, target: "—", met: null });
    row({
      figure: `cross-gateway delivery p99, Redis Cluster vs one redis-server (${stated})`,
      ours: lc.cross.p99,
      baseline: l1.cross.p99,
      unit: "ms",
      ratio: lc.cross.p99 / l1.cross.p99,
      target: "—",
      met: null,
      note:
        `${lc.deliveries}/${lc.wanted} vs ${l1.deliveries}/${l1.wanted} deliveries, ${lc.refused} vs ${l1.refused} sends refused; ` +
        `other processes' CPU-s meanwhile ${lc.cpu?.others.toFixed(1) ?? "?"} vs ${l1.cpu?.others.toFixed(1) ?? "?"}`,
    });

    // 1b. Saturation: both rooms open (the other side idle while one is measured), sides interleaved step by step.
    const S = CLUSTER.sat;
    const sides: SatSide[] = [
      newSide({ key: "one", label: "one Redis", gateways: [oneA, oneB], room: CLUSTER.room, redisCpu: oneRedisCpu }, S.startRate),
      newSide({ key: "cl", label: "Redis Cluster", gateways: [clA, clB], room: CLUSTER.room, redisCpu: clusterRedisCpu }, S.startRate),
    ];
    const rooms = { one: roomOne, cl: roomCl };
    try {
      for (const side of sides) {
        const room = rooms[side.key as "one" | "cl"];
        // Socket i: generator floor(i / 2) % 4, gateway A for even i, B for odd: each generator holds both sides, its first sockets (its senders) alternate.
        const per = clients.map(() => [] as { token: string; url: string }[]);
        room.users.forEach((u, i) => per[Math.floor(i / 2) % clients.length]!.push({ token: u.token, url: side.gateways[i % 2]!.info.url as string }));
        await Promise.all(clients.map((c, k) => c.call("satOpen", { room: side.key, chatId: room.chatIds[0], items: per[k] }, 60_000)));
      }
      log(`cluster: saturation rooms open (${CLUSTER.room} sockets each, ${S.senders} senders, steps of ${S.stepMs / 1000} s from ${S.startRate} msg/s)`);
      await satLadder({ sides, clients, S, log: (m) => log(`cluster: saturation ${m}`), warmupRate: () => S.startRate / 2 });
    } finally {
      await Promise.all(clients.map((c) => c.call("satClose", {}, 30_000).catch(() => undefined)));
    }
    details.saturation = Object.fromEntries(sides.map((x) => [x.label, { steps: x.steps }]));
    const [tOne, tCl] = [sustained(sides[0]!), sustained(sides[1]!)];
    const satNote =
      `${ladderRule(S)}; ${S.senders} senders on both gateways; ` +
      `cluster: ${ladderText(sides[1]!)}, ${firstFailText(sides[1]!)}; one Redis: ${ladderText(sides[0]!)}, ${firstFailText(sides[0]!)}`;
    row({
      figure: `messages/s at saturation across 2 gateways, Redis Cluster vs one redis-server (room of ${CLUSTER.room}, half on each gateway; highest step sustained)`,
      ours: tCl?.messagesPerSecond ?? null,
      baseline: tOne?.messagesPerSecond ?? null,
      unit: "/s",
      ratio: tCl && tOne ? tCl.messagesPerSecond / tOne.messagesPerSecond : null,
      target: "—",
      met: null,
      note: satNote,
    });
    row({
      figure: "deliveries/s at that step (Redis Cluster vs one redis-server)",
      ours: tCl?.deliveriesPerSecond ?? null,
      baseline: tOne?.deliveriesPerSecond ?? null,
      unit: "/s",
      ratio: tCl && tOne ? tCl.deliveriesPerSecond / tOne.deliveriesPerSecond : null,
      target: "—",
      met: null,
      note:
        `at that step: delivery p50 ${tCl?.delivery.p50.toFixed(1) ?? "?"} vs ${tOne?.delivery.p50.toFixed(1) ?? "?"} ms, p99 ${tCl?.delivery.p99.toFixed(1) ?? "?"} vs ${tOne?.delivery.p99.toFixed(1) ?? "?"} ms, ` +
        `CPU per message: gateways (both) ${tCl?.gatewayCpuUsPerMessage.toFixed(0) ?? "?"} vs ${tOne?.gatewayCpuUsPerMessage.toFixed(0) ?? "?"} µs, Redis (idle rate left out) ${tCl?.redisCpuUsPerMessage.toFixed(0) ?? "?"} vs ${tOne?.redisCpuUsPerMessage.toFixed(0) ?? "?"} µs, ` +
        `the machine busy ${busyCores(tCl)} vs ${busyCores(tOne)} of ${cpus().length} cores (other processes ${tCl?.cpu?.others.toFixed(1) ?? "?"} vs ${tOne?.cpu?.others.toFixed(1) ?? "?"} CPU-s)`,
    });

    // Afterwards: the cluster's subscriptions are back to the idle ones, and the gateways did not reconnect over and over.
    const end = await settledSubs(cl, pair, (s) => s.total === base.total, 8_000);
    const connsAfter = await connectionsReceived();
    const cliAfter = cl.ports.reduce((a, p) => a + (cliRuns.get(p) ?? 0), 0);
    const byName: Record<string, number> = {};
    for (const port of cl.ports) for (const c of await clientList(port)) {
      const g = pair.find((x) => (c.name ?? "").includes(`gateway-${x.info.pid}:`));
      if (g) byName[g.name] = (byName[g.name] ?? 0) + 1;
    }
    const gatewayConns = connsAfter - connsBefore - (cliAfter - cliBefore);
    details.end = { subs: end, connectionsReceived: connsAfter - connsBefore, byRedisCli: cliAfter - cliBefore, connectedNow: byName };
    log(
      `cluster: at the end: ${subsText(end)}; the cluster received ${connsAfter - connsBefore} connections during the phase, ${cliAfter - cliBefore} of them the bench's redis-cli, ` +
        `so ${gatewayConns} from the 2 gateways (and node-to-node); connected now: ${JSON.stringify(byName)}`,
    );
  } finally {
    await Promise.all(gws.map((g) => g.stop()));
    await closeAllOn(clients, []).catch(() => undefined);
    await cl.stop();
    redisCluster = undefined;
    const dir = process.env.BENCH_LOG_DIR;
    if (dir) for (const g of gws) log(`cluster: ${g.name} log: ${logSummary(join(dir, `${g.name}.log`))}`);
    log(`cluster: Redis Cluster stopped; phase took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}

/** A child's pino log (BENCH_LOG_DIR): lines per level and the distinct warnings and errors. */
function logSummary(file: string): string {
  if (!existsSync(file)) return "no log";
  const levels: Record<string, number> = {};
  const msgs: Record<string, number> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as { level: number | string; msg?: string; err?: unknown };
      const lv = String(e.level);
      levels[lv] = (levels[lv] ?? 0) + 1;
      if (typeof e.level === "number" ? e.level >= 40 : !["info", "debug", "trace"].includes(lv)) {
        const k = `${lv} ${e.msg ?? ""}${e.err ? ` (${typeof e.err === "string" ? e.err : JSON.stringify(e.err).slice(0, 120)})` : ""}`;
        msgs[k] = (msgs[k] ?? 0) + 1;
      }
    } catch {
      levels.unparsed = (levels.unparsed ?? 0) + 1;
    }
  }
  return `${JSON.stringify(levels)}${Object.keys(msgs).length ? `; ${JSON.stringify(msgs)}` : ""}`;
}

async function main() {
  const watchdog = setTimeout(() => {
    process.stderr.write("bench: deadline reached, stopping\n");
    killAll();
    void cleanup().finally(() => process.exit(2));
  }, DEADLINE_MS);
  watchdog.unref();

  log(`node ${process.version}, ${cpus().length} cores, phases: ${only?.join(",") ?? "all"}${PROFILE ? " (profiling the gateway)" : ""}`);
  // Our servers run the compiled dist/ as production does (bench/lib/server-proc.ts): built fresh.
  if (!process.env.BENCH_DIST_DIR) {
    log("building dist/ (tsc -p .)");
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(__dirname, "..")], { stdio: "inherit" });
  }
  // Only the cluster phase's own gateways go on its Redis Cluster (server-proc reads this from its environment).
  delete process.env.BENCH_REDIS_CLUSTER_NODES;
  database = await createBenchDatabase();
  redis = await startRedisServer();
  // The api's ES256 key: the load's tokens are signed as the api signs them, the gateways hold the public half only.
  const keyPair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privatePem = keyPair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const tokens = new TokenSigner(es256SigningKey(privatePem), 1_800);
  log(`database ${database.name}, redis-server on ${redis.port}; seeding`);
  // Only what the chosen phases use: gw2 and gw3 for delivery and revocation, the bare server for
  // handshake and memory, the api for revocation and login, the 20000 load sessions for handshake and memory.
  const needs = {
    gw1: !only || only.some((p) => !["cluster", "fanout"].includes(p)),
    load: phase("handshake") || phase("memory"),
    others: phase("delivery") || phase("revocation"),
    bare: phase("handshake") || phase("memory"),
    api: phase("revocation") || phase("login"),
  };
  const loadSeed = needs.load ? await seed(database.url, tokens, "load_", LOAD_SESSIONS, LOAD_CHATS) : undefined;
  const load = loadSeed ? loadSeed.users.map((u: Seeded, i: number) => ({ token: u.token, chat: loadSeed.chatOf(i) })) : [];
  const env = {
    BENCH_DATABASE_URL: database.url,
    BENCH_REDIS_URL: redis.url,
    BENCH_JWT_PRIVATE_KEY: privatePem,
    BENCH_JWT_PUBLIC_KEYS: keyPair.publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
  const serverFile = join(__dirname, "lib/server-proc.ts");
  const clientFile = join(__dirname, "lib/client-proc.ts");
  const profDir = join(RESULTS, "prof");
  if (PROFILE) mkdirSync(profDir, { recursive: true });

  const none = Promise.resolve(undefined);
  const [[g1, g2, g3, bare, api], clients] = await Promise.all([
    Promise.all([
      needs.gw1 ? spawnChild("gw1", serverFile, { env: { ...env, BENCH_MODE: "ours" }, nodeFlags: ["--expose-gc"] }) : none,
      needs.others ? spawnChild("gw2", serverFile, { env: { ...env, BENCH_MODE: "ours" }, nodeFlags: ["--expose-gc"] }) : none,
      needs.others ? spawnChild("gw3", serverFile, { env: { ...env, BENCH_MODE: "ours" }, nodeFlags: ["--expose-gc"] }) : none,
      needs.bare ? spawnChild("bare", serverFile, { env: { BENCH_MODE: "bare" }, nodeFlags: ["--expose-gc"] }) : none,
      needs.api ? spawnChild("api", serverFile, { env: { ...env, BENCH_MODE: "api" } }) : none,
    ]),
    Promise.all(Array.from({ length: CLIENTS }, (_, k) => spawnChild(`client${k + 1}`, clientFile, { env: { BENCH_LOCAL_ADDRESS: `127.0.0.${k + 2}` } }))),
  ]);
  const started = [g1, g2, g3, bare, api].filter((c) => c !== undefined).map((c) => c.name);
  log(`started ${started.join(", ")} and ${CLIENTS} load generators`);

  // Each phase: who used the CPU meanwhile (the machine may be shared: other processes are counted).
  const phaseCpu: Record<string, CpuUse | null> = {};
  results.details.cpu = phaseCpu;
  const attempt = async (name: string, fn: () => Promise<void>, enabled = phase(name)) => {
    if (!enabled) return;
    const before = cpuSnapshot();
    try {
      await fn();
    } catch (err) {
      const msg = `${name}: ${(err as Error).message}`;
      results.errors.push(msg);
      log(`FAILED ${msg}`);
    }
    phaseCpu[name] = cpuUse(before, cpuSnapshot());
    log(`${name}: ${cpuText(phaseCpu[name])}`);
  };

  await attempt("tokens", async () => tokenVerificationPhase(row, log));
  await attempt("handshake", () => handshakePhase(g1!, bare!, clients, load));

  await attempt("memory", async () => {
    const ours = await capacityPhase("ours", g1!, clients, load, true);
    const base = await capacityPhase("bare", bare!, clients, load, false);
    // chats: the load's users are spread over this many chats (each join is announced to its chat's others online).
    results.details.capacity = { ours, bare: base, chats: LOAD_CHATS };
    const at = (steps: Step[], n: number) => steps.find((s) => s.total >= n);
    const o5 = at(ours.steps, 5_000);
    const b5 = at(base.steps, 5_000);
    if (o5 && b5) {
      row({ figure: `RSS per idle connection at ${o5.total}`, ours: o5.rssPerConn / 1024, baseline: b5.rssPerConn / 1024, unit: "KiB", ratio: o5.rssPerConn / b5.rssPerConn, target: "≤ 1.15x", met: o5.rssPerConn / b5.rssPerConn <= 1.15 });
      row({ figure: `heap per idle connection at ${o5.total}`, ours: o5.heapPerConn / 1024, baseline: b5.heapPerConn / 1024, unit: "KiB", ratio: o5.heapPerConn / b5.heapPerConn, target: "≤ 1.15x", met: o5.heapPerConn / b5.heapPerConn <= 1.15 });
    }
    const oTop = ours.steps.filter((s) => s.failed === 0).at(-1);
    const held = ours.hold && ours.hold.dropped === 0 ? (ours.hold.serverSockets as number) : (oTop?.total ?? 0);
    const bTop = base.steps.filter((s) => s.failed === 0).at(-1);
    row({
      figure: `idle authenticated connections one gateway holds (fd limit ${FD_LIMIT}, heartbeats on, held ${HOLD_MS / 1000} s)`,
      ours: held,
      baseline: bTop?.total ?? null,
      unit: "",
      ratio: bTop ? held / bTop.total : null,
      target: "≥ 19000",
      met: held >= 19_000,
      note: ours.hold ? `dropped during the hold: ${ours.hold.dropped}` : undefined,
    });
    // Memory and handshake rate at the largest size both reached.
    const size = Math.min(oTop?.total ?? 0, bTop?.total ?? 0);
    const oS = ours.steps.filter((s) => s.failed === 0 && s.total <= size).at(-1);
    const bS = base.steps.filter((s) => s.failed === 0 && s.total <= size).at(-1);
    if (oS && bS) {
      row({ figure: `RSS per idle connection at ${oS.total} / ${bS.total}`, ours: oS.rssPerConn / 1024, baseline: bS.rssPerConn / 1024, unit: "KiB", ratio: oS.rssPerConn / bS.rssPerConn, target: "≤ 1.15x", met: oS.rssPerConn / bS.rssPerConn <= 1.15 });
      row({ figure: `heap per idle connection at ${oS.total} / ${bS.total}`, ours: oS.heapPerConn / 1024, baseline: bS.heapPerConn / 1024, unit: "KiB", ratio: oS.heapPerConn / bS.heapPerConn, target: "≤ 1.15x", met: oS.heapPerConn / bS.heapPerConn <= 1.15 });
    }
    // The rate at that size: the last full step (15000 → 19000), whose 4000 handshakes average out the heartbeat waves.
    const last = CAPACITY_STEPS.length - 1;
    const oR = ours.steps[last];
    const bR = base.steps[last];
    if (oR && bR && oR.failed === 0 && bR.failed === 0) {
      row({
        figure: `handshakes/s stepping ${CAPACITY_STEPS[last - 1]}→${CAPACITY_STEPS[last]} connections held`,
        ours: oR.rate,
        baseline: bR.rate,
        unit: "/s",
        ratio: oR.rate / bR.rate,
        target: "≥ 0.9x",
        met: oR.rate / bR.rate >= 0.9,
        note:
          `server CPU per handshake ${oR.cpuUsPerHandshake.toFixed(0)} vs ${bR.cpuUsPerHandshake.toFixed(0)} µs; cores: server ${oR.serverCores.toFixed(2)} vs ${bR.serverCores.toFixed(2)}, ` +
          `generators ${oR.generatorCores.toFixed(2)} vs ${bR.generatorCores.toFixed(2)}, machine ${oR.machineCores.toFixed(2)} vs ${bR.machineCores.toFixed(2)}`,
      });
    }
  });

  await attempt("delivery", async () => {
    const seeded = await seed(database!.url, tokens, "dlv_", DELIVERY.room, 1);
    const res = await clients[0]!.call<{ single: Summary; cross: Summary; sent: number; acked: number; refused: number; rate: number; deliveries: number; wanted: number; late: number }>(
      "delivery",
      { a: g1!.info.url, b: g2!.info.url, chatId: seeded.chatIds[0], tokens: seeded.users.map((u) => u.token), ...DELIVERY },
      120_000,
    );
    results.details.delivery = { ...res, ...DELIVERY };
    log(`delivery: ${JSON.stringify(res)}`);
    const stated = `room of ${DELIVERY.room} (half on each gateway), ${DELIVERY.senders * DELIVERY.perSenderRate} msg/s`;
    row({ figure: `delivery p50, across 2 gateways vs within one (${stated})`, ours: res.cross.p50, baseline: res.single.p50, unit: "ms", ratio: res.cross.p50 / res.single.p50, target: "—", met: null });
    const limit = 2 * res.single.p99 + 5;
    row({
      figure: `delivery p99, across 2 gateways vs within one (${stated})`,
      ours: res.cross.p99,
      baseline: res.single.p99,
      unit: "ms",
      ratio: res.cross.p99 / res.single.p99,
      target: "≤ 2x + 5 ms",
      met: res.cross.p99 <= limit && res.deliveries === res.wanted,
      note: `${res.deliveries}/${res.wanted} deliveries, ${res.refused} sends refused`,
    });
  });

  await attempt("revocation", async () => {
    const seeded = await seed(database!.url, tokens, "rev_", REVOCATION.sessions);
    const gws = [g1!, g2!, g3!].map((g) => g.info.url as string);
    const sessions = seeded.users.map((u, i) => ({ token: u.token, sid: u.sessionId, gateways: [gws[i % 3]!, gws[(i + 1) % 3]!] }));
    const res = await clients[1]!.call<{ latency: Summary; missing: number; before: number; withoutEnded: number; httpFailed: number; sockets: number }>(
      "revocation",
      { api: api!.info.url, sessions, gapMs: REVOCATION.gapMs },
      120_000,
    );
    results.details.revocation = res;
    log(`revocation: ${JSON.stringify(res)}`);
    const note = `${REVOCATION.sessions} sessions × 2 sockets on 3 gateways; ${res.missing} not disconnected, ${res.before} before the call returned (counted 0), ${res.httpFailed} calls failed`;
    row({ figure: "revocation: call returned → client disconnected, p50", ours: res.latency.p50, baseline: null, unit: "ms", ratio: null, target: "—", met: null });
    row({ figure: "revocation: call returned → client disconnected, p99", ours: res.latency.p99, baseline: null, unit: "ms", ratio: null, target: "≤ 100 ms", met: res.latency.p99 <= 100 && res.missing === 0 && res.httpFailed === 0, note });
  });

  await attempt("login", async () => {
    const username = `bench_login_${randomBytes(3).toString("hex")}`;
    const password = `Vq7!${randomBytes(12).toString("base64url")}`;
    const reg = await fetch(`${api!.info.url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email: `${username}@bench.test`, password }),
    });
    if (reg.status !== 201) throw new Error(`register ${reg.status} ${await reg.text()}`);
    const hash = (await database!.db.selectFrom("users").select("password_hash").where("username", "=", username).executeTakeFirstOrThrow()).password_hash;
    const res = await clients[2]!.call<{ login: Summary; verify: Summary; loginPerSec: number; verifyPerSec: number }>(
      "login",
      { api: api!.info.url, username, password, hash, ...LOGIN },
      240_000,
    );
    results.details.login = { ...res, ...LOGIN, argon2: hash.split("$").slice(1, 4).join("$") };
    log(`login: ${JSON.stringify(res)}`);
    const params = hash.split("$")[3];
    row({ figure: `login latency p50, POST /login vs argon2.verify alone (${params}, sequential)`, ours: res.login.p50, baseline: res.verify.p50, unit: "ms", ratio: res.login.p50 / res.verify.p50, target: "≤ 1.1x", met: res.login.p50 / res.verify.p50 <= 1.1 });
    row({ figure: "login latency p99 (same rounds)", ours: res.login.p99, baseline: res.verify.p99, unit: "ms", ratio: res.login.p99 / res.verify.p99, target: "—", met: null });
    row({
      figure: `login throughput, ${LOGIN.concurrency} at a time`,
      ours: res.loginPerSec,
      baseline: res.verifyPerSec,
      unit: "/s",
      ratio: res.loginPerSec / res.verifyPerSec,
      target: "≥ 0.91x (cost ≤ 1.1x)",
      met: res.loginPerSec / res.verifyPerSec >= 1 / 1.1,
    });
  });

  // The gateways on one Redis vs on a Redis Cluster of the phase's own (its own four gateways, stopped after it).
  await attempt("cluster", () => clusterPhase(clients, tokens, env, serverFile));
  await attempt("presence", () => presencePhase(clients, tokens, env, serverFile));
  // Stored messages per second, ours vs the same inserts straight to PostgreSQL (gateway and generators of its own).
  await attempt("stored", async () => {
    // A redis-server of its own: with the classic adapter every gateway on a Redis receives and
    // decodes every broadcast, and the earlier phases' gateways (gw1-gw3) would each do so for
    // every stored message (the full runs read 1,860 B of Redis output per message against 938 B
    // in the phase alone, and 0.77x against 0.84x), taking the shared cores from the one measured.
    const own = await startRedisServer();
    try {
      await storedPhase({ databaseUrl: database!.url, tokens, env: { ...env, BENCH_REDIS_URL: own.url }, serverFile, redisPort: own.port, profileDir: PROFILE ? profDir : undefined, commits, log, row, details: results.details });
    } finally {
      await own.stop();
    }
  });

  // Last: the soak, then the attacks (the first may leave gw1 the worse for it). They use gw1 (and gwb)
  // and the load generators only: the other servers are stopped to leave them the two cores.
  const attackFlood = phase("attack") || phase("attack-flood");
  const attackBuffer = phase("attack") || phase("attack-buffer");
  if (phase("soak") || attackFlood || attackBuffer) await Promise.all([g2, g3, bare, api].map((c) => c?.stop()));
  await attempt("soak", () => soakPhase(g1!, clients, tokens));
  await attempt("attack-flood", () => attackFloodPhase(g1!, clients, tokens), attackFlood);
  // A gateway of its own for the send-buffer attack (gw1 stays idle meanwhile), stopped after it.
  await attempt(
    "attack-buffer",
    async () => {
      const gwb = await spawnChild("gwb", serverFile, {
        env: { ...env, BENCH_MODE: "ours", SOCKET_EVENT_BURST: String(ATTACK_BUFFER.eventBurst) },
        nodeFlags: ["--expose-gc"],
      });
      try {
        await attackBufferPhase(gwb, clients, tokens);
      } finally {
        await gwb.stop();
      }
    },
    attackBuffer,
  );

  // Last: the fan-out ladders, on gateways of their own with every other server stopped (an idle
  // gateway of ours on the same Redis would hear every message the measured one publishes).
  if (phase("fanout")) await Promise.all([g1, g2, g3, bare, api].map((c) => c?.stop()));
  await attempt("fanout", () =>
    fanoutPhase({ clients, tokens, dbUrl: database!.url, redis: redis!, env, serverFile, log, row, details: results.details, ...(PROFILE ? { profileDir: profDir } : {}) }),
  );

  await cleanup();
  clearTimeout(watchdog);
  report();
}

const num = (x: number | null, unit: string) => {
  if (x === null || Number.isNaN(x)) return "—";
  const digits = unit === "/s" || unit === "µs" || unit === "" ? (Math.abs(x) < 10 && !Number.isInteger(x) ? 3 : 0) : Math.abs(x) < 10 ? 2 : 1;
  return `${x.toFixed(digits)}${unit && unit !== "/s" ? ` ${unit}` : unit}`;
};

function report(): void {
  const lines = [
    `| figure | ours | baseline | ratio | target | met? |`,
    `| --- | --- | --- | --- | --- | --- |`,
    ...results.rows.map(
      (r) =>
        `| ${r.figure}${r.note ? ` (${r.note})` : ""} | ${num(r.ours, r.unit)} | ${num(r.baseline, r.unit)} | ${r.ratio === null ? "—" : `${r.ratio.toFixed(2)}x`} | ${r.target} | ${r.met === null ? "—" : r.met ? "yes" : "**no**"} |`,
    ),
  ];
  const header = `ws-auth-cluster bench, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${((Date.now() - t0) / 1000).toFixed(0)} s`;
  const all = cpuUse(cpu0, cpuSnapshot());
  results.details.cpuAll = all;
  const shared = `${cpuText(all)} (${cpus().length} cores: ${all ? (cpus().length * all.seconds).toFixed(0) : "?"} CPU-s in all)`;
  const perPhase = Object.entries((results.details.cpu ?? {}) as Record<string, CpuUse | null>).map(([name, u]) => `- ${name}: ${cpuText(u)}`);
  const model = capacityModel(results.details);
  results.details.capacityModel = model.figures;
  const md = [header, "", shared, "", ...lines, "", ...model.lines, ...(perPhase.length ? ["", "CPU by phase (the machine may be shared; other processes' load skews latency figures):", ...perPhase] : []), ...(results.errors.length ? ["", "Errors:", ...results.errors.map((e) => `- ${e}`)] : []), ""].join("\n");
  process.stdout.write(`\n${md}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const suffix = only || PROFILE ? `-${(only ?? ["all"]).join("-")}${PROFILE ? "-profile" : ""}` : "";
  writeFileSync(join(RESULTS, `latest${suffix}.md`), md);
  writeFileSync(
    join(RESULTS, `latest${suffix}.json`),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, seconds: (Date.now() - t0) / 1000, phases: only ?? "all", ...results }, null, 2),
  );
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll();
    void cleanup().finally(() => process.exit(130));
  });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await cleanup();
  process.exit(1);
});

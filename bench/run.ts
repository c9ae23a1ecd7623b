/**
 * `npm run bench`: our gateway side by side with a bare Socket.IO server (same socket.io version,
 * path /ws, WebSocket transport, stock socket.io-client, same concurrency), every server and load
 * generator in its own process. Prints a markdown table and writes bench/results/latest.{json,md}.
 *
 *   npm run bench                              every figure (about 5 minutes on 2 cores)
 *   npm run bench -- --only=handshake,memory   some phases: handshake, memory (and capacity), delivery, revocation, login
 *   npm run bench -- --only=memory --max=5000       memory at 5000 connections only (no capacity steps, no hold)
 *   npm run bench -- --only=handshake --profile  gw1 and the bare server run with --cpu-prof (bench/results/prof/), see bench/profile-top.ts
 *
 * Needs PostgreSQL (BENCH_PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres; a
 * database of its own is created and dropped) and /usr/bin/redis-server (REDIS_SERVER_BIN; one of
 * its own on a free port).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { startRedisServer, type RedisServer } from "../test/support/redis-server";
import { sql } from "kysely";
import { TokenService } from "../shared/tokens";
import { type Child, killAll, sleep, spawnChild, stopAll } from "./lib/ipc";
import { type BenchDatabase, createBenchDatabase, seed, type Seeded } from "./lib/setup";
import type { Summary } from "./lib/stats";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const only = flag("only")?.split("=")[1]?.split(",");
const phase = (name: string) => !only || only.includes(name);
const PROFILE = flag("profile") !== undefined;
/** `--max=N`: stop the capacity steps at N connections, without the hold (a quick memory figure). */
const MAX = Number(flag("max")?.split("=")[1] ?? Infinity);

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
const DEADLINE_MS = 9.5 * 60_000;

const t0 = Date.now();
const log = (msg: string) => process.stdout.write(`[bench +${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  sockets: number;
  fds: number;
  cpu: { user: number; system: number };
}

interface Row {
  figure: string;
  ours: number | null;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
  note?: string;
}

const results: { rows: Row[]; details: Record<string, unknown>; errors: string[] } = { rows: [], details: {}, errors: [] };
const row = (r: Row) => results.rows.push(r);

let database: BenchDatabase | undefined;
let redis: RedisServer | undefined;

async function cleanup(): Promise<void> {
  await stopAll().catch(() => undefined);
  await redis?.stop().catch(() => undefined);
  redis = undefined;
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

async function closeAll(clients: Child[], server: Child): Promise<void> {
  await Promise.all(clients.map((c) => c.call("closeAll", undefined, 60_000)));
  for (let i = 0; i < 100 && (await server.call<number>("sockets")) > 0; i += 1) await sleep(100);
}

const mem = (server: Child) => server.call<Mem>("mem", undefined, 30_000);
const cpuMs = (m: Mem) => (m.cpu.user + m.cpu.system) / 1000;

/** Transactions committed in the bench database so far (statistics are flushed about once a second). */
async function commits(): Promise<number> {
  const { rows } = await sql<{ n: string }>`select xact_commit::text as n from pg_stat_database where datname = current_database()`.execute(database!.db);
  return Number(rows[0]?.n ?? 0);
}

async function handshakePhase(ours: Child, bare: Child, clients: Child[], load: { token: string; chat?: string }[]) {
  log("handshakes: warm-up");
  for (let i = 0; i < 2; i += 1) {
    for (const s of [bare, ours]) {
      await connectAll(clients, s.info.url as string, load.slice(0, 2_000), false);
      await closeAll(clients, s);
    }
  }
  const rounds: Record<string, { rate: number; cpuUsPerHandshake: number; failed: number; p50: number; queriesPerHandshake: number }[]> = { ours: [], bare: [] };
  for (let r = 0; r < HANDSHAKE_ROUNDS; r += 1) {
    const order: [string, Child][] = r % 2 === 0 ? [["bare", bare], ["ours", ours]] : [["ours", ours], ["bare", bare]];
    for (const [name, server] of order) {
      await sleep(1_100);
      const xacts = await commits();
      const before = await server.call<{ cpu: Mem["cpu"] }>("cpu");
      const res = await connectAll(clients, server.info.url as string, load.slice(0, HANDSHAKE_ROUND));
      const after = await server.call<{ cpu: Mem["cpu"] }>("cpu");
      await sleep(1_100);
      const queries = (await commits()) - xacts - 2; // less the two reads of the statistics
      const cpuUs = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
      const perHandshake = queries / Math.max(1, res.ok);
      rounds[name]!.push({ rate: res.rate, cpuUsPerHandshake: cpuUs / Math.max(1, res.ok), failed: res.failed, p50: res.p50, queriesPerHandshake: perHandshake });
      log(
        `handshakes: ${name} round ${r + 1}: ${res.rate.toFixed(0)}/s, ${(cpuUs / Math.max(1, res.ok)).toFixed(0)} µs server CPU each, ` +
          `${perHandshake.toFixed(3)} queries each, ${res.failed} failed ${JSON.stringify(res.errors)}`,
      );
      await closeAll(clients, server);
    }
  }
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
  row({ figure: "server CPU per handshake (median round)", ours: oc, baseline: bc, unit: "µs", ratio: oc / bc, target: "—", met: null });
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
    const res = await connectAll(clients, server.info.url as string, load.slice(total, target));
    total += res.ok;
    await sleep(1_000);
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
    };
    steps.push(step);
    log(
      `${name}: ${m.sockets} held (${res.rate.toFixed(0)}/s, ${res.failed} failed ${JSON.stringify(res.errors)}), ` +
        `${(step.rssPerConn / 1024).toFixed(2)} KiB rss and ${(step.heapPerConn / 1024).toFixed(2)} KiB heap per connection, ${m.fds} fds`,
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

async function main() {
  const watchdog = setTimeout(() => {
    process.stderr.write("bench: deadline reached, stopping\n");
    killAll();
    void cleanup().finally(() => process.exit(2));
  }, DEADLINE_MS);
  watchdog.unref();

  log(`node ${process.version}, ${cpus().length} cores, phases: ${only?.join(",") ?? "all"}${PROFILE ? " (profiling the gateway)" : ""}`);
  database = await createBenchDatabase();
  redis = await startRedisServer();
  const secret = randomBytes(32).toString("base64url");
  const tokens = new TokenService([secret], 1_800);
  log(`database ${database.name}, redis-server on ${redis.port}; seeding`);
  const loadSeed = await seed(database.url, tokens, "load_", LOAD_SESSIONS, LOAD_CHATS);
  const load = loadSeed.users.map((u: Seeded, i: number) => ({ token: u.token, chat: loadSeed.chatOf(i) }));
  const env = { BENCH_DATABASE_URL: database.url, BENCH_REDIS_URL: redis.url, BENCH_JWT_SECRET: secret };
  const serverFile = join(__dirname, "lib/server-proc.ts");
  const clientFile = join(__dirname, "lib/client-proc.ts");
  const profDir = join(RESULTS, "prof");
  if (PROFILE) mkdirSync(profDir, { recursive: true });

  const [g1, g2, g3, bare, api, ...clients] = await Promise.all([
    spawnChild("gw1", serverFile, { env: { ...env, BENCH_MODE: "ours" }, nodeFlags: ["--expose-gc", ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [])] }),
    spawnChild("gw2", serverFile, { env: { ...env, BENCH_MODE: "ours" }, nodeFlags: ["--expose-gc"] }),
    spawnChild("gw3", serverFile, { env: { ...env, BENCH_MODE: "ours" }, nodeFlags: ["--expose-gc"] }),
    spawnChild("bare", serverFile, { env: { BENCH_MODE: "bare" }, nodeFlags: ["--expose-gc", ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [])] }),
    spawnChild("api", serverFile, { env: { ...env, BENCH_MODE: "api" } }),
    ...Array.from({ length: CLIENTS }, (_, k) => spawnChild(`client${k + 1}`, clientFile, { env: { BENCH_LOCAL_ADDRESS: `127.0.0.${k + 2}` } })),
  ]);
  log(`started 3 gateways, a bare server, an api and ${CLIENTS} load generators`);

  const attempt = async (name: string, fn: () => Promise<void>) => {
    if (!phase(name)) return;
    try {
      await fn();
    } catch (err) {
      const msg = `${name}: ${(err as Error).message}`;
      results.errors.push(msg);
      log(`FAILED ${msg}`);
    }
  };

  await attempt("handshake", () => handshakePhase(g1!, bare!, clients, load));

  await attempt("memory", async () => {
    const ours = await capacityPhase("ours", g1!, clients, load, true);
    const base = await capacityPhase("bare", bare!, clients, load, false);
    results.details.capacity = { ours, bare: base };
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

  if (PROFILE) log(`CPU profiles of gw1 (pid ${g1!.info.pid}) and bare (pid ${bare!.info.pid}) go to ${profDir} when they exit`);
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
  const md = [header, "", ...lines, ...(results.errors.length ? ["", "Errors:", ...results.errors.map((e) => `- ${e}`)] : []), ""].join("\n");
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

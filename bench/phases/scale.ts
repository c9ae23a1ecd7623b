/**
 * `--only=scale` (never part of a full run): the cluster at the size where its cross-gateway costs
 * show. SCALE_CONNECTIONS (default 250,000) authenticated connections over SCALE_GATEWAYS gateways
 * (default: enough that the survivors of a kill -9 can take its clients under the 20,000-descriptor
 * limit, and at least 13) and one api, on the bench's redis-server (SCALE_REDIS=cluster: a 3-master Redis
 * Cluster of the phase's own, the sharded adapter), from light load generators
 * (lib/scale-proc.ts: raw Engine.IO/Socket.IO, about 18,000 connections each). Their sockets are
 * not bound to a source address: binding one (as Node's `localAddress` does, without Linux's
 * IP_BIND_ADDRESS_NO_PORT) makes the kernel search that address's ports for a free one at every
 * connect, and at 10,000 connections per address the generators spent most of the machine in the
 * kernel (66 % system time, handshakes/s falling from 740 to 200 as the count grew). Unbound, the
 * kernel picks the source port per destination. Each gateway also listens on 127.0.0.2-4
 * (SCALE_ADDRESSES, server-proc's BENCH_ALSO_LISTEN) and a connection goes to one of its
 * addresses by its number: past about 14,000 connections to one address:port (half the 28,000
 * ephemeral ports, the half connect() searches first) each connect cost 0.7-0.8 ms of system time
 * against 17-36 µs, and the 250,000 storm's survivors each held 19,000. The generators connect to the gateways directly, not through nginx: nginx would
 * hold two descriptors per connection, so 250,000 need 28 or more workers under the same limit,
 * and its workers' CPU beside 15 gateways on 2 cores would be measured as ours.
 *
 * Every user is in a chat of 20 (its members on as many gateways), joined in the handshake; the first 10,000 users are also in one chat of 10,000 members.
 * Steps, each measured:
 *   1. ramp: handshakes/s and the gateways' CPU per handshake, per tenth of the count (a refused
 *      connect is tried again after the client's back-off, RAMP_RETRIES times); it stops
 *      early (a finding) if the machine's available memory falls under SCALE_MIN_FREE_MIB;
 *   2. hold for SCALE_HOLD seconds (default 300; heartbeats every 25 s, or SOCKET_PING_INTERVAL): drops, server RSS and heap
 *      per connection, Redis memory and CPU, PostgreSQL connections and CPU, kernel socket memory;
 *   3. revoke 10 sessions per gateway through the api, 20 ms apart: call returned → socket gone;
 *   4. broadcast 10 messages, one a second, into the chat of 10,000 (its sockets on every gateway);
 *   5. kill -9 of the gateway with the most sockets: its clients come back to the others with
 *      socket.io-client's jittered back-off and the typed client's 60 s connect time-out
 *      (SCALE_CONNECT_TIMEOUT; 1 in 47 stays away: presence must announce them),
 *      time to 99 % and 100 % back, handshakes/s and PostgreSQL transactions meanwhile, drops
 *      elsewhere, and presence:leave for those who stayed away.
 * `results.details.scale` keeps every figure (the capacity model compares them with the small phases').
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import type { BenchContext, Phase } from "../lib/context";
import { adoptPids, cpuSnapshot, cpuText, cpuUse, procStat } from "../lib/cpu-account";
import { type Child, sleep, spawnChild } from "../lib/ipc";
import { cpuUsOf, diffCounts, type Mem, mem, metricBy, scrape, serverCpuUs } from "../lib/probes";
import { redisCpuSeconds, redisInfo as nodeInfo, startBenchRedisCluster } from "../lib/redis-cluster";
import { inputsOf, UNIT } from "../lib/capacity-model";
import { seed } from "../lib/setup";
import { summary } from "../lib/stats";
import { oursPingIntervalS } from "../lib/options";

const FD_LIMIT = 20_000;
/** The gateways' ping interval (s). */
const PING_S = oursPingIntervalS();
/** Connections per load generator (its descriptors: these, IPC and a few more). */
const PER_GENERATOR = 18_000;
/** A gateway keeps this many descriptors for PostgreSQL, Redis and its listener. */
const GATEWAY_SPARE_FDS = 600;
const BROADCAST_MEMBERS = 10_000;
const CHAT_SIZE = 20;
/**
 * Loopback addresses each gateway takes connections on (127.0.0.1 and the next ones; SCALE_ADDRESSES,
 * default 4): under 5,000 connections per address:port at 250,000. Each is a listening socket of
 * its own, and libuv (1.46, Node 20) accepts one connection per listening socket per turn of the
 * event loop: a survivor of the kill -9 whose loop turns 15 times a second on its share of 2 cores
 * accepts at most about 15 connections a second per address. More addresses did not raise what the
 * survivors got through (16: their turns grew longer; docs/scale.md, third session).
 */
const DEFAULT_ADDRESSES = 4;
/**
 * A ramp connect refused (a gateway over HANDSHAKE_MAX_LAG_MS answers the upgrade 400) or timed out
 * is tried again this many times after the stock client's back-off, as a real client would.
 */
const RAMP_RETRIES = 3;

/** How long the memory reads after the hold may force collections (one per gateway, in turn) before the rest are read as they are. */
const MEM_READS_BUDGET_MS = 120_000;
/** The addresses past 127.0.0.1 a gateway also listens on (server-proc's BENCH_ALSO_LISTEN). */
const alsoListen = (addresses: number) => Array.from({ length: addresses - 1 }, (_, k) => `127.0.0.${k + 2}`).join(",");

interface Options {
  /** SCALE_REDIS=cluster: the servers on a 3-master Redis Cluster of the phase's own (the sharded adapter), else the bench's redis-server. */
  redis: "single" | "cluster";
  connections: number;
  gateways: number;
  holdMs: number;
  minFreeMiB: number;
  /** Loopback addresses per gateway (SCALE_ADDRESSES). */
  addresses: number;
}

function options(env: NodeJS.ProcessEnv): Options {
  const connections = Number(env.SCALE_CONNECTIONS ?? 250_000);
  // After a kill -9 the survivors hold every connection: each under the descriptor limit.
  const survivorsNeeded = Math.ceil(connections / (FD_LIMIT - GATEWAY_SPARE_FDS));
  const gateways = Number(env.SCALE_GATEWAYS ?? Math.max(13, survivorsNeeded + 1));
  const addresses = Number(env.SCALE_ADDRESSES ?? DEFAULT_ADDRESSES);
  if (!Number.isInteger(addresses) || addresses < 1 || addresses > 254) throw new Error(`SCALE_ADDRESSES: ${env.SCALE_ADDRESSES} is not a whole number from 1 to 254`);
  // Read by the load generators (scale-proc.ts), which inherit the environment; checked here, before anything starts.
  const connectTimeout = env.SCALE_CONNECT_TIMEOUT;
  if (connectTimeout !== undefined && !(Number(connectTimeout) >= 1 && Number(connectTimeout) <= 600)) throw new Error(`SCALE_CONNECT_TIMEOUT: ${connectTimeout} is not a number of seconds from 1 to 600`);
  return { redis: env.SCALE_REDIS === "cluster" ? "cluster" : "single", connections, gateways, holdMs: Number(env.SCALE_HOLD ?? 300) * 1000, minFreeMiB: Number(env.SCALE_MIN_FREE_MIB ?? 2_048), addresses };
}

const memAvailableMiB = () => Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0) / 1024;

/** The kernel's TCP sockets in use and their buffer memory (/proc/net/sockstat: pages of 4 KiB). */
function sockstat(): { inuse: number; memMiB: number; tw: number } {
  const text = readFileSync("/proc/net/sockstat", "utf8");
  const tcp = /^TCP: inuse (\d+) orphan \d+ tw (\d+) alloc \d+ mem (\d+)/m.exec(text);
  return { inuse: Number(tcp?.[1] ?? NaN), tw: Number(tcp?.[2] ?? NaN), memMiB: (Number(tcp?.[3] ?? NaN) * 4) / 1024 };
}

async function redisInfo(url: string): Promise<{ usedMemory: number; cpu: number; clients: number }> {
  const { Redis } = await import("ioredis");
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const info = await r.info();
    const field = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, "m").exec(info)?.[1] ?? NaN);
    return { usedMemory: field("used_memory"), cpu: field("used_cpu_sys") + field("used_cpu_user"), clients: field("connected_clients") };
  } finally {
    r.disconnect();
  }
}

async function pgFacts(url: string): Promise<{ connections: number; commits: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ connections: string; commits: string }>(
      `select (select count(*) from pg_stat_activity where datname = current_database())::text as connections,
              (select xact_commit from pg_stat_database where datname = current_database())::text as commits`,
    );
    return { connections: Number(rows[0]!.connections), commits: Number(rows[0]!.commits) };
  } finally {
    await client.end();
  }
}

/**
 * The kernel's TCP counters that say whether connects waited before an accept (/proc/net/netstat,
 * this network namespace): ListenOverflows counts handshakes dropped because a listener's accept
 * queue was full (a SYN, which the client sends again, or the last ACK, after which the client
 * believes it is connected and waits for the server's SYN-ACK retries); ListenDrops includes those;
 * TCPReqQFullDrop and SyncookiesSent count SYNs past the SYN queue.
 */
const TCP_LISTEN_COUNTERS = ["ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "SyncookiesSent"] as const;
function tcpListenCounters(): Record<string, number> {
  const lines = readFileSync("/proc/net/netstat", "utf8").split("\n").filter((l) => l.startsWith("TcpExt:"));
  const names = (lines[0] ?? "").split(/\s+/).slice(1);
  const values = (lines[1] ?? "").split(/\s+/).slice(1).map(Number);
  const out: Record<string, number> = {};
  for (const name of TCP_LISTEN_COUNTERS) {
    const k = names.indexOf(name);
    if (k >= 0) out[name] = values[k]!;
  }
  return out;
}

/** Counts by name, summed over the load generators. */
function sumCounts(all: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const counts of all) for (const [k, v] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

/** Each child's CPU time so far (µs), and their sum. */
const cpuEach = (children: Child[]) => Promise.all(children.map(serverCpuUs));
const cpuSum = async (children: Child[]) => (await cpuEach(children)).reduce((a, b) => a + b, 0);

/** User and system CPU-seconds of processes `pids` together (/proc/<pid>/stat, ticks of 1/100 s); a process gone counts 0. */
function userSys(pids: number[]): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    try {
      const st = procStat(`/proc/${pid}/stat`);
      user += st.utime / 100;
      sys += st.stime / 100;
    } catch {
      // Gone.
    }
  }
  return { user, sys };
}

/**
 * Each child's handshakes by result (`gateway_handshakes_total`), from its /metrics, or null if it did
 * not answer three scrapes: a survivor busy with a storm may miss one.
 */
async function handshakesOf(children: Child[]): Promise<(Record<string, number> | null)[]> {
  return Promise.all(
    children.map(async (c) => {
      for (let tries = 0; tries < 3; tries += 1) {
        const text = await scrape(c.info.metricsUrl as string);
        if (text !== null) return metricBy(text, "gateway_handshakes_total", {}, "result");
      }
      return null;
    }),
  );
}

/**
 * The handshakes between two reads, summed over the children read both times. A child read only once
 * is counted in `unread` and left out, rather than taken as zero (which made the sum short, or negative).
 */
function handshakesBetween(after: (Record<string, number> | null)[], before: (Record<string, number> | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  let unread = 0;
  after.forEach((a, k) => {
    const b = before[k];
    if (!a || !b) {
      unread += 1;
      return;
    }
    for (const [result, n] of Object.entries(diffCounts(a, b))) out[result] = (out[result] ?? 0) + (n as number);
  });
  return unread > 0 ? { ...out, unread } : out;
}

type Status = { held: number; open: number; byGw: Record<number, number>; dropped: Record<number, number> };

async function statusOf(generators: Child[]) {
  const all = await Promise.all(generators.map((g) => g.call<Status>("status")));
  const byGw: Record<number, number> = {};
  const dropped: Record<number, number> = {};
  let open = 0;
  for (const s of all) {
    open += s.open;
    for (const [k, v] of Object.entries(s.byGw)) byGw[Number(k)] = (byGw[Number(k)] ?? 0) + v;
    for (const [k, v] of Object.entries(s.dropped)) dropped[Number(k)] = (dropped[Number(k)] ?? 0) + v;
  }
  return { open, byGw, dropped, droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0) };
}

/** The check's connections per client kind. */
const CHECK_CONNECTIONS = 2_000;

interface CheckSide {
  serverRssPerConnKiB: number;
  serverHeapPerConnKiB: number;
  serverCpuUsPerHandshake: number;
  clientRssPerConnKiB: number;
  clientHeapPerConnKiB: number;
  connected: number;
}

/**
 * 2,000 stock socket.io-client sockets (lib/client-proc.ts), then 2,000 light ones (lib/scale-proc.ts),
 * as the same users in the same chats of 20, to one gateway, one kind at a time: if the light client
 * spoke less of the protocol than the stock one, the gateway's cost per connection would differ.
 */
async function clientCheck(ctx: BenchContext, gateway: Child, log: (m: string) => void): Promise<{ stock: CheckSide; light: CheckSide }> {
  const users = await seed(ctx.database.url, ctx.tokens, "scalechk_", CHECK_CONNECTIONS, CHECK_CONNECTIONS / CHAT_SIZE);
  const url = gateway.info.url as string;
  const stock = await spawnChild("scalechk-stock", join(__dirname, "../lib/client-proc.ts"), { env: { BENCH_LOCAL_ADDRESS: "" }, nodeFlags: ["--expose-gc"] });
  const light = await spawnChild("scalechk-light", join(__dirname, "../lib/scale-proc.ts"), { env: { BENCH_LOCAL_ADDRESS: "" }, nodeFlags: ["--expose-gc"] });
  try {
    await light.call("setUrls", { urls: [url] });
    const side = async (client: Child, connect: () => Promise<unknown>): Promise<CheckSide> => {
      const [s0, c0] = [await mem(gateway), await client.call<{ rss: number; heapUsed: number }>("mem", undefined, 60_000)];
      await connect();
      await sleep(1_000); // the joins' presence announcements, held back up to half a second
      const [s1, c1] = [await mem(gateway), await client.call<{ rss: number; heapUsed: number; open: number }>("mem", undefined, 60_000)];
      const n = Math.max(1, s1.sockets - s0.sockets);
      const res = {
        serverRssPerConnKiB: (s1.rss - s0.rss) / n / 1024,
        serverHeapPerConnKiB: (s1.heapUsed - s0.heapUsed) / n / 1024,
        serverCpuUsPerHandshake: (cpuUsOf(s1) - cpuUsOf(s0)) / n,
        clientRssPerConnKiB: (c1.rss - c0.rss) / n / 1024,
        clientHeapPerConnKiB: (c1.heapUsed - c0.heapUsed) / n / 1024,
        connected: s1.sockets - s0.sockets,
      };
      await client.call("closeAll", undefined, 60_000);
      for (let i = 0; i < 100 && (await gateway.call<number>("sockets")) > 0; i += 1) await sleep(100);
      return res;
    };
    const items = users.users.map((u, j) => ({ token: u.token, chat: users.chatOf(j)! }));
    // A first light round, not reported, warms the gateway up (the first kind measured paid its compilation: 2,500 against 1,300 µs).
    await side(light, () => light.call("connect", { items: users.users.map((u, j) => ({ i: 2e9 + j, token: u.token, userId: u.userId, chat: users.chatOf(j)!, gw: 0 })), concurrency: 25 }, 120_000));
    const stockSide = await side(stock, () => stock.call("connect", { url, items, concurrency: 25 }, 120_000));
    const lightSide = await side(light, () => light.call("connect", { items: users.users.map((u, j) => ({ i: 1e9 + j, token: u.token, userId: u.userId, chat: users.chatOf(j)!, gw: 0 })), concurrency: 25 }, 120_000));
    const f = (x: CheckSide) =>
      `${x.connected} connected, gateway ${x.serverRssPerConnKiB.toFixed(1)} KiB RSS / ${x.serverHeapPerConnKiB.toFixed(1)} KiB heap / ${x.serverCpuUsPerHandshake.toFixed(0)} µs per connection, client ${x.clientRssPerConnKiB.toFixed(1)} KiB RSS / ${x.clientHeapPerConnKiB.toFixed(1)} KiB heap`;
    log(`scale: client check: stock ${f(stockSide)}; light ${f(lightSide)}`);
    return { stock: stockSide, light: lightSide };
  } finally {
    await Promise.all([stock.stop(), light.stop()]);
  }
}

/** bench/results/latest-memory.json's memory-phase figures, if that run is newer than `than` (an ISO date). */
function newerMemoryPhase(than: string): { date: string; capacity: unknown } | null {
  try {
    const run = JSON.parse(readFileSync(join(__dirname, "../results/latest-memory.json"), "utf8")) as { date: string; details: { capacity?: unknown } };
    return run.date > than && run.details.capacity !== undefined ? { date: run.date, capacity: run.details.capacity } : null;
  } catch {
    return null;
  }
}

/**
 * The capacity model's unit costs (bench/lib/capacity-model.ts, from the last full run's
 * bench/results/latest.json: memory phase at 20,000 on one gateway, handshake phase, fan-out) against
 * this run's, and what the model predicts for this deployment against what it held.
 */
function compareWithModel(
  hold: { rssPerConnKiB: number; heapPerConnKiB: number; serverSockets: number; gatewayCores: number; gatewayUsPerHeartbeat: number },
  steps: { cpuUsPerHandshake: number }[],
  kill: { gatewayCpuUsPerHandshake: number; netGatewayCpuUsPerHandshake: number; back: number; postgresCommits: number },
  log: (m: string) => void,
): Record<string, unknown> | null {
  const file = join(__dirname, "../results/latest.json");
  let details: Record<string, unknown>;
  let date: string;
  try {
    ({ details, date } = JSON.parse(readFileSync(file, "utf8")) as { details: Record<string, unknown>; date: string });
  } catch {
    log("scale: no bench/results/latest.json (a full run's): the model is not compared");
    return null;
  }
  // A memory phase run alone after the full run (bench/results/latest-memory.json) measures what the
  // model reads from it (memory and heartbeats per connection) more recently: its figures stand in.
  const newer = newerMemoryPhase(date);
  if (newer) {
    details = { ...details, capacity: newer.capacity };
    log(`scale: the model's memory and heartbeat figures are the memory phase's of ${newer.date} (bench/results/latest-memory.json), the rest the full run's of ${date}`);
  }
  const m = inputsOf(details);
  const kib = (b: number | null) => (b === null ? null : b / 1024);
  const lastFresh = steps.at(-1)?.cpuUsPerHandshake ?? null;
  const pairs: { unit: string; model: number | null; here: number | null; note: string }[] = [
    { unit: "RSS per connection (KiB)", model: kib(m.rssPerConnection), here: hold.rssPerConnKiB, note: `model: one gateway at ${m.connectionsMeasured}; here: ${hold.serverSockets} over every gateway` },
    { unit: "heap per connection (KiB)", model: kib(m.heapPerConnection), here: hold.heapPerConnKiB, note: "" },
    {
      unit: "gateway CPU per reconnect onto another gateway (µs)",
      model: m.freshJoinCpuUsPerHandshake ?? m.cpuUsPerHandshake,
      here: kill.netGatewayCpuUsPerHandshake,
      note: `model: the memory phase's fresh handshakes, its storm's price (the handshake phase's reconnects to the same gateway: ${m.cpuUsPerHandshake?.toFixed(0) ?? "not measured"} µs); here: the kill's storm, the survivors' CPU less their hold's (${kill.gatewayCpuUsPerHandshake.toFixed(0)} µs with it)`,
    },
    { unit: "gateway CPU per fresh join into a chat (µs)", model: m.freshJoinCpuUsPerHandshake, here: lastFresh, note: "here: the ramp's last tenth (chats of 20, members on many gateways)" },
    { unit: "PostgreSQL queries per reconnect", model: m.queriesPerHandshake, here: kill.postgresCommits / Math.max(1, kill.back), note: "here: transactions committed during the storm" },
    {
      unit: "gateway CPU per heartbeat (µs)",
      model: m.cpuUsPerHeartbeat ?? m.cpuUsPerDelivery,
      here: hold.gatewayUsPerHeartbeat,
      note: `the model's from the memory phase's hold on one gateway${m.cpuUsPerHeartbeat === null ? " (not in those results: a delivery in rooms of 10 instead)" : ""}; here: the gateways' CPU over the hold per ping`,
    },
  ];
  const rows = pairs.map((p) => ({ ...p, ratio: p.model !== null && p.here !== null && p.model > 0 ? p.here / p.model : null }));
  for (const r of rows) log(`scale: model ${r.unit}: ${r.model?.toFixed(2) ?? "not measured"} → here ${r.here?.toFixed(2) ?? "not measured"}${r.ratio === null ? "" : ` (${r.ratio.toFixed(2)}x)`}${r.note ? ` (${r.note})` : ""}`);
  // What the model predicts for this deployment: gateways by memory, and the heartbeats' cores.
  const byMemory = m.rssPerConnection === null ? null : Math.ceil((hold.serverSockets * m.rssPerConnection) / UNIT.gatewayRssBytes);
  const beatUs = m.cpuUsPerHeartbeat ?? m.cpuUsPerDelivery;
  const heartbeatCores = beatUs === null ? null : (beatUs * hold.serverSockets) / PING_S / 1e6;
  const prediction = { gatewaysByMemory: byMemory, heartbeatCores, heldGatewayCores: hold.gatewayCores };
  log(`scale: model's prediction for ${hold.serverSockets} held: ${byMemory} gateway(s) by memory (here the 20,000-descriptor limit set the count), heartbeats ${heartbeatCores?.toFixed(2)} cores → the gateways used ${hold.gatewayCores.toFixed(2)} cores over the hold`);
  return { from: file, rows, prediction };
}

export const scalePhase: Phase = {
  name: "scale",
  needs: [],
  alone: [],
  onlyWhenAsked: true,
  // 250,000 on 2 cores: a ramp of up to 25 minutes (its last tenths at 50–90 handshakes/s), the 5-minute hold, then the steps.
  extraTimeMs: 40 * 60_000,
  async run(ctx: BenchContext) {
    const o = options(process.env);
    const { log, row, details } = ctx;
    const generatorsN = Math.ceil(o.connections / PER_GENERATOR);
    log(`scale: ${o.connections} connections, ${o.gateways} gateways on ${o.addresses} addresses each, ${generatorsN} load generators, hold ${o.holdMs / 1000} s`);

    // Users, sessions and tokens; chats of 20; the broadcast chat's members.
    const t0 = Date.now();
    const chats = Math.max(1, Math.ceil(o.connections / CHAT_SIZE));
    const seeded = await seed(ctx.database.url, ctx.tokens, "scale_", o.connections, chats);
    const bcast = await (async () => {
      const client = new pg.Client({ connectionString: ctx.database.url });
      await client.connect();
      try {
        // Every (N / 10,000)-th user: members on every gateway.
        const every = Math.max(1, Math.floor(o.connections / BROADCAST_MEMBERS));
        const members = seeded.users.filter((_, i) => i % every === 0).slice(0, BROADCAST_MEMBERS);
        const { rows } = await client.query<{ id: string }>(`insert into chats (name, created_by) values ('scale broadcast', $1) returning id`, [members[0]!.userId]);
        await client.query(`insert into chat_members (chat_id, user_id, role) select $1, unnest($2::uuid[]), 'member'`, [rows[0]!.id, members.map((m) => m.userId)]);
        return { chat: rows[0]!.id, members: members.length, every };
      } finally {
        await client.end();
      }
    })();
    log(`scale: seeded ${seeded.users.length} users in ${chats} chats and a chat of ${bcast.members} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const gateways: Child[] = [];
    const generators: Child[] = [];
    let apiChild: Child | undefined;
    const cluster = o.redis === "cluster" ? await startBenchRedisCluster() : undefined;
    const releaseCluster = cluster ? ctx.guard(() => cluster.stop()) : undefined;
    if (cluster) adoptPids(cluster.pids());
    // Each gateway's PostgreSQL pool: 13 of the default 10, with the api's, passed PostgreSQL's 100
    // connections (chat:join answered `unavailable` to 11 % of 10,000, then the bench's own queries were refused).
    const poolMax = String(Math.max(2, Math.floor(60 / o.gateways)));
    const serverEnv = { ...ctx.env, DATABASE_POOL_MAX: poolMax, ...(cluster ? { BENCH_REDIS_CLUSTER_NODES: cluster.seeds } : {}) };
    /** Redis's memory, CPU-s and clients: the one server's, or the Cluster's nodes' summed. */
    const redisNow = async () => {
      if (!cluster) return redisInfo(ctx.redis.url);
      let usedMemory = 0;
      let cpu = 0;
      let clients = 0;
      for (const port of cluster.ports) {
        usedMemory += Number((await nodeInfo(port, "memory")).used_memory ?? NaN);
        clients += Number((await nodeInfo(port, "clients")).connected_clients ?? NaN);
        cpu += await redisCpuSeconds(port);
      }
      return { usedMemory, cpu, clients };
    };
    /**
     * On the Redis Cluster: its epoch (a failover raises it) and masters after each step, logged
     * when they change (a node starved of CPU past the node timeout is failed over).
     */
    const topology: { after: string; epoch: number; masters: number[] }[] = [];
    const noteTopology = async (after: string) => {
      if (!cluster) return;
      const info = await cluster.cli(cluster.ports[0]!, "cluster", "info").catch(() => "");
      const epoch = Number(/cluster_current_epoch:(\d+)/.exec(info)?.[1] ?? NaN);
      const masters = (await cluster.masters().catch(() => [])).sort((a, b) => a - b);
      const last = topology.at(-1);
      topology.push({ after, epoch, masters });
      if (!last || last.epoch !== epoch || last.masters.join() !== masters.join()) log(`scale: Redis Cluster after ${after}: epoch ${epoch}, masters ${masters.join(", ")}`);
    };
    const result: Record<string, unknown> = { config: { ...o, generators: generatorsN, chatSize: CHAT_SIZE, broadcastMembers: bcast.members } };
    details.scale = result;
    if (cluster) result.clusterTopology = topology;
    try {
      const [gws, api, gens] = await Promise.all([
        Promise.all(Array.from({ length: o.gateways }, (_, k) => spawnChild(`sgw${k + 1}`, ctx.serverFile, { env: { ...serverEnv, BENCH_MODE: "ours", BENCH_ALSO_LISTEN: alsoListen(o.addresses) }, nodeFlags: ["--expose-gc"], readyTimeoutMs: 120_000 }))),
        spawnChild("sapi", ctx.serverFile, { env: { ...serverEnv, BENCH_MODE: "api" }, readyTimeoutMs: 120_000 }),
        Promise.all(
          Array.from({ length: generatorsN }, (_, k) =>
            spawnChild(`sgen${k + 1}`, join(__dirname, "../lib/scale-proc.ts"), { env: { BENCH_LOCAL_ADDRESS: "" }, nodeFlags: ["--expose-gc"] }),
          ),
        ),
      ]);
      gateways.push(...gws);
      await noteTopology("the start");
      generators.push(...gens);
      apiChild = api;
      const urls = gateways.map((g) => g.info.urls as string[]);
      const inBroadcast = (i: number) => i % bcast.every === 0 && i / bcast.every < BROADCAST_MEMBERS;
      await Promise.all(generators.map((g) => g.call("setUrls", { urls })));
      const base = await Promise.all(gateways.map((g) => g.call<Mem>("mem", undefined, 180_000)));

      // 0. The light client against the stock one (SCALE_CHECK=0 skips it): the same users into the
      // same chats on one gateway, the gateway's memory and CPU per connection for each, and each
      // generator's own memory per connection.
      if (process.env.SCALE_CHECK !== "0") result.clientCheck = await clientCheck(ctx, gateways[0]!, log);

      // 1. Ramp, a tenth at a time.
      // User i is in chat c = i mod chats, with users c + k·chats (k < 20): its k-th member goes to gateway
      // (c + k) mod G, so a chat's members are on consecutive gateways (min(20, G) of them) and every
      // gateway gets the same share. (k mod G alone gave gateways 0-5 twice the others' share when G = 14:
      // the first reached its 20,000 descriptors at 182,000 connections.)
      const items = seeded.users.map((u, i) => ({ i, token: u.token, userId: u.userId, chat: seeded.chatOf(i)!, gw: ((i % chats) + Math.floor(i / chats)) % o.gateways }));
      // Ramped chat by chat (a chat's members on consecutive gateways): every tenth reaches every
      // gateway alike. In the order of i, one tenth went to one or two gateways, whose core then
      // bounded the rate (500/s, every other gateway idle).
      const rampOrder = [...items].sort((a, b) => (a.i % chats) - (b.i % chats) || a.i - b.i);
      const steps: { total: number; seconds: number; rate: number; failed: number; errors: Record<string, number>; retried: Record<string, number>; cpuUsPerHandshake: number; grossCpuUsPerHandshake: number; idleCores: number; freeMiB: number; p50: number; p99: number }[] = [];
      const stepSize = Math.ceil(o.connections / 10);
      let wall: string | null = null;
      for (let from = 0; from < rampOrder.length; from += stepSize) {
        const free = memAvailableMiB();
        if (free < o.minFreeMiB) {
          wall = `memory: ${free.toFixed(0)} MiB available at ${from} connections (the floor is ${o.minFreeMiB} MiB)`;
          log(`scale: ramp stopped: ${wall}`);
          break;
        }
        const part = rampOrder.slice(from, from + stepSize);
        // --profile: a V8 profile of the first gateway over one tenth of the ramp (SCALE_PROFILE_STEP, from 0; the third by default).
        const profiling = ctx.profileDir !== undefined && steps.length === Number(process.env.SCALE_PROFILE_STEP ?? 2);
        if (profiling) await gateways[0]!.call("profileStart", {});
        // The gateways' CPU while nothing connects (heartbeats, presence's timers): 2 s before the step,
        // taken out of its CPU per handshake (at 175,000 held it was over a third of the gross figure).
        const idle0 = [await cpuSum(gateways), Date.now()] as const;
        await sleep(2_000);
        const idleUsPerS = ((await cpuSum(gateways)) - idle0[0]) / ((Date.now() - idle0[1]) / 1000);
        const cpuBefore = await cpuEach(gateways);
        const stepStart = Date.now();
        const shares = Array.from({ length: generators.length }, (_, k) => part.filter((_, j) => j % generators.length === k));
        const res = await Promise.all(
          generators.map((g, k) =>
            g.call<{ ok: number; failed: number; errors: Record<string, number>; retriedErrors: Record<string, number>; started: number; ended: number; p50: number; p99: number }>("connect", { items: shares[k], concurrency: 24, retries: RAMP_RETRIES }, 600_000),
          ),
        );
        const cpuAfter = await cpuEach(gateways);
        if (profiling) {
          const file = join(ctx.profileDir!, "scale-ramp-sgw1.cpuprofile");
          await gateways[0]!.call("profileStop", { file }, 60_000);
          log(`scale: profile of sgw1 over tenth ${steps.length + 1}: ${file} (--per=${Math.ceil(part.length / o.gateways)} handshakes)`);
        }
        const ok = res.reduce((a, r) => a + r.ok, 0);
        const failed = res.reduce((a, r) => a + r.failed, 0);
        const errors: Record<string, number> = {};
        const retried: Record<string, number> = {};
        for (const r of res) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
        for (const r of res) for (const [k, v] of Object.entries(r.retriedErrors)) retried[k] = (retried[k] ?? 0) + v;
        const seconds = (Math.max(...res.map((r) => r.ended)) - Math.min(...res.map((r) => r.started))) / 1000;
        const cpuGross = cpuAfter.reduce((a, c, k) => a + c - cpuBefore[k]!, 0);
        const cpu = Math.max(0, cpuGross - idleUsPerS * ((Date.now() - stepStart) / 1000));
        const st = await statusOf(generators);
        const step = { total: st.open, seconds, rate: ok / seconds, failed, errors, retried, cpuUsPerHandshake: cpu / Math.max(1, ok), grossCpuUsPerHandshake: cpuGross / Math.max(1, ok), idleCores: idleUsPerS / 1e6, freeMiB: memAvailableMiB(), p50: Math.max(...res.map((r) => r.p50)), p99: Math.max(...res.map((r) => r.p99)) };
        steps.push(step);
        log(`scale: ${st.open} open (+${ok}, ${failed} failed ${JSON.stringify(errors)}, tried again ${JSON.stringify(retried)}) at ${step.rate.toFixed(0)}/s, ${step.cpuUsPerHandshake.toFixed(0)} µs gateway CPU per handshake (${step.grossCpuUsPerHandshake.toFixed(0)} with the gateways' idle ${step.idleCores.toFixed(2)} cores), p99 ${step.p99.toFixed(0)} ms, ${step.freeMiB.toFixed(0)} MiB free`);
      }
      result.ramp = { steps, wall };
      await noteTopology("the ramp");
      const ramped = await statusOf(generators);

      // The broadcast chat's sockets join it (each also stays in its chat of 20).
      const joined = await Promise.all(generators.map((g) => g.call<{ asked: number; ok: number; retried: number; errors: Record<string, number> }>("join", { indices: items.filter((x) => inBroadcast(x.i)).map((x) => x.i), chat: bcast.chat, concurrency: 8, rounds: 3 }, 600_000)));
      const joinedOk = joined.reduce((a, r) => a + r.ok, 0);
      result.broadcastJoin = { members: bcast.members, joined: joinedOk, retried: joined.reduce((a, r) => a + r.retried, 0) };
      log(`scale: ${joinedOk} of ${bcast.members} joined the broadcast chat (${joined.reduce((a, r) => a + r.retried, 0)} needed another try) ${JSON.stringify(joined.map((r) => r.errors).filter((e) => Object.keys(e).length > 0))}`);

      // 2. Hold.
      // --profile with SCALE_PROFILE_HOLD=1: a V8 profile of the first gateway over the hold (what an idle connection costs).
      const holdProfiled = ctx.profileDir !== undefined && process.env.SCALE_PROFILE_HOLD === "1";
      if (holdProfiled) await gateways[0]!.call("profileStart", {});
      const holdStart = { gwCpu: await cpuSum(gateways), cpu: cpuSnapshot(), redis: await redisNow(), pg: await pgFacts(ctx.database.url), at: Date.now() };
      const samples: { at: number; open: number; dropped: number }[] = [];
      while (Date.now() - holdStart.at < o.holdMs) {
        await sleep(Math.min(30_000, o.holdMs - (Date.now() - holdStart.at)));
        const st = await statusOf(generators);
        samples.push({ at: Math.round((Date.now() - holdStart.at) / 1000), open: st.open, dropped: st.droppedTotal });
        log(`scale: hold +${samples.at(-1)!.at} s: ${st.open} open, ${st.droppedTotal} dropped`);
      }
      const holdUse = cpuUse(holdStart.cpu, cpuSnapshot());
      const holdGwCpuUs = (await cpuSum(gateways)) - holdStart.gwCpu;
      // The hold's length for its rates, fixed here: the memory reads below take a while, one gateway at a time.
      const holdSeconds = (Date.now() - holdStart.at) / 1000;
      if (holdProfiled) {
        const file = join(ctx.profileDir!, "scale-hold-sgw1.cpuprofile");
        await gateways[0]!.call("profileStop", { file }, 60_000);
        log(`scale: profile of sgw1 over the hold: ${file}`);
      }
      const [redisAfter, pgAfter] = [await redisNow(), await pgFacts(ctx.database.url)];
      // A gateway busy with 15,000 connections' heartbeats may take a while to answer (the GC first): 30 s was not enough at 200,000.
      // One gateway at a time: each "mem" forces a full collection, and 13 at once on 2 cores stalled
      // the gateways for seconds. At 150,000 the steps after it then measured the stall: revocation
      // p99 2.8 s and 163,432 presence leaves during the broadcast; asked in turn, 21 ms and 2,470.
      // One collection each, not three: on a busy machine (the fourth session's 250,000 runs) three per
      // gateway took 384-540 s in all, leases lapsed and half the connections dropped. Should the reads
      // still pass MEM_READS_BUDGET_MS, the rest are read without a collection (counted in `memReads`).
      const mems: Mem[] = [];
      const readsStart = Date.now();
      for (const [k, g] of gateways.entries()) {
        const t0 = Date.now();
        const collections = Date.now() - readsStart < MEM_READS_BUDGET_MS ? 1 : 0;
        mems.push(await g.call<Mem>("mem", { collections }, 180_000));
        log(`scale: memory of sgw${k + 1}: ${((Date.now() - t0) / 1000).toFixed(1)} s (${collections} collection${collections === 1 ? "" : "s"}, ${(mems.at(-1)!.gcMs ?? 0).toFixed(0)} ms of it collecting)`);
      }
      const memReads = { seconds: (Date.now() - readsStart) / 1000, uncollected: mems.filter((m) => m.collections === 0).length, gcMs: mems.map((m) => Math.round(m.gcMs ?? 0)) };
      const genMems = await Promise.all(generators.map((g) => g.call<{ rss: number; heapUsed: number; open: number }>("mem", undefined, 60_000)));
      const held = await statusOf(generators);
      const sockets = mems.reduce((a, m) => a + m.sockets, 0);
      const rssGrowth = mems.reduce((a, m, k) => a + m.rss - base[k]!.rss, 0);
      const heapGrowth = mems.reduce((a, m, k) => a + m.heapUsed - base[k]!.heapUsed, 0);
      const hold = {
        seconds: holdSeconds,
        open: held.open,
        dropped: held.droppedTotal,
        samples,
        serverSockets: sockets,
        rssPerConnKiB: rssGrowth / sockets / 1024,
        heapPerConnKiB: heapGrowth / sockets / 1024,
        perGateway: mems.map((m, k) => ({ sockets: m.sockets, rssMiB: m.rss / 2 ** 20, rssPerConnKiB: (m.rss - base[k]!.rss) / Math.max(1, m.sockets) / 1024, heapPerConnKiB: (m.heapUsed - base[k]!.heapUsed) / Math.max(1, m.sockets) / 1024, fds: m.fds, newSpaceMiB: (m.spaces?.new_space ?? NaN) / 2 ** 20, newSpaceAtStartMiB: (base[k]!.spaces?.new_space ?? NaN) / 2 ** 20 })),
        /** The gateways' CPU over the hold: heartbeats (one ping and pong per connection per 25 s) and timers. */
        gatewayCores: holdGwCpuUs / 1e6 / holdSeconds,
        gatewayUsPerHeartbeat: holdGwCpuUs / Math.max(1, (sockets * holdSeconds) / PING_S),
        generatorRssPerConnKiB: genMems.reduce((a, m) => a + m.rss, 0) / Math.max(1, genMems.reduce((a, m) => a + m.open, 0)) / 1024,
        redis: { usedMemoryMiB: redisAfter.usedMemory / 2 ** 20, cpuSeconds: redisAfter.cpu - holdStart.redis.cpu, clients: redisAfter.clients },
        postgres: { connections: pgAfter.connections, commits: pgAfter.commits - holdStart.pg.commits, cpuSeconds: holdUse?.postgres ?? null },
        machine: holdUse,
        kernel: sockstat(),
        /** The memory reads after the hold: their time (s), the gateways read without a collection, each one's collection time (ms). */
        memReads,
      };
      result.hold = hold;
      log(`scale: held ${hold.open} for ${hold.seconds.toFixed(0)} s, ${hold.dropped} dropped; RSS ${hold.rssPerConnKiB.toFixed(2)} KiB, heap ${hold.heapPerConnKiB.toFixed(2)} KiB per connection; ${cpuText(holdUse)}`);
      // The young generation is outside heapUsed's live objects but in RSS: its growth since the start, per connection.
      const newSpaceGrowth = hold.perGateway.reduce((a, g) => a + g.newSpaceMiB - g.newSpaceAtStartMiB, 0);
      log(`scale: young generation after the reads: ${hold.perGateway.map((g) => g.newSpaceMiB.toFixed(0)).join("/")} MiB by gateway (${hold.perGateway.map((g) => g.newSpaceAtStartMiB.toFixed(0)).join("/")} at the start): ${((newSpaceGrowth * 1024) / Math.max(1, sockets)).toFixed(2)} KiB of the RSS per connection`);
      await noteTopology("the hold");

      // The hold's rows now: a later step that fails leaves them in the table.
      row("scale.held", {
        figure: `authenticated connections held ${Math.round(hold.seconds)} s with heartbeats (${o.gateways} gateways, ${o.redis === "cluster" ? "a 3-master Redis Cluster" : "one Redis"}; ${hold.dropped} dropped; ramp ${steps.map((s) => s.rate.toFixed(0)).join("/")} handshakes/s per tenth)`,
        ours: hold.open,
        baseline: null,
        unit: "",
        ratio: null,
        valid: hold.dropped === 0 && wall === null,
        note: wall ?? undefined,
      });
      row("scale.rss", { figure: `server RSS per connection at ${hold.serverSockets} (all gateways; heap ${hold.heapPerConnKiB.toFixed(2)} KiB; load generator ${hold.generatorRssPerConnKiB.toFixed(2)} KiB)`, ours: hold.rssPerConnKiB, baseline: null, unit: "KiB", ratio: null });
      // 3. Revocation: 10 sessions per gateway, each revoked through the api.
      const picks = Array.from({ length: o.gateways }, (_, g) => items.filter((x) => x.gw === g && (!inBroadcast(x.i) || o.connections <= bcast.members)).slice(-10)).flat();
      const apiUrl = api.info.url as string;
      const returned = new Map<number, number>();
      let httpFailed = 0;
      for (const p of picks) {
        const res = await fetch(`${apiUrl}/sessions/${seeded.users[p.i]!.sessionId}`, { method: "DELETE", headers: { authorization: `Bearer ${p.token}` } });
        await res.arrayBuffer();
        returned.set(p.i, performance.timeOrigin + performance.now());
        if (res.status !== 204) httpFailed += 1;
        await sleep(20);
      }
      // Waited for up to 30 s: a socket still up then was never ended (a late one is in the latencies).
      type Gone = { i: number; gw: number; goneAt: number | null; ended: boolean };
      const goneNow = async () => (await Promise.all(generators.map((g) => g.call<Gone[]>("gone", { indices: picks.map((p) => p.i) })))).flat();
      let gone = await goneNow();
      for (const until = Date.now() + 30_000; gone.some((x) => x.goneAt === null) && Date.now() < until; gone = await goneNow()) await sleep(1_000);
      const revLatencies = gone.filter((x) => x.goneAt !== null).map((x) => Math.max(0, x.goneAt! - returned.get(x.i)!));
      const notGoneByGw: Record<number, number> = {};
      for (const x of gone) if (x.goneAt === null) notGoneByGw[x.gw + 1] = (notGoneByGw[x.gw + 1] ?? 0) + 1;
      const revocation = { sessions: picks.length, httpFailed, notGone: gone.filter((x) => x.goneAt === null).length, notGoneByGateway: notGoneByGw, withoutEnded: gone.filter((x) => !x.ended).length, latency: summary(revLatencies) };
      result.revocation = revocation;
      log(`scale: revocation ${JSON.stringify(revocation)}`);
      await noteTopology("the revocations");

      // 4. Broadcast into the chat of 10,000.
      const marker = `m${Date.now()}`;
      await Promise.all(generators.map((g) => g.call("broadcastStart", { marker })));
      const sender = items[0]!; // a member (i = 0): the first of the ramp, dealt to the first generator
      const senderGen = generators[0]!;
      const sendsOk: boolean[] = [];
      for (let k = 0; k < 10; k += 1) {
        const ack = await senderGen.call<string>("send", { i: sender.i, chat: bcast.chat, text: `bcast:${marker}:{now}` }).catch((e: Error) => e.message);
        sendsOk.push(ack.includes('"ok":true'));
        await sleep(1_000);
      }
      await sleep(3_000);
      const receipts = await Promise.all(generators.map((g) => g.call<{ n: number; latencies: number[]; duplicates: Record<number, number>; received: Record<string, number> }>("broadcastResult")));
      const lat = receipts.flatMap((r) => r.latencies);
      const duplicatesByGw: Record<number, number> = {};
      for (const r of receipts) for (const [gw, n] of Object.entries(r.duplicates)) duplicatesByGw[Number(gw) + 1] = (duplicatesByGw[Number(gw) + 1] ?? 0) + n;
      const duplicates = Object.values(duplicatesByGw).reduce((a, b) => a + b, 0);
      const expected = 10 * joinedOk; // the sender's own socket receives its message too
      const broadcastRes = { messages: 10, acked: sendsOk.filter(Boolean).length, expected, received: lat.length, duplicates, duplicatesByGateway: duplicatesByGw, latency: summary(lat), eventsMeanwhile: sumCounts(receipts.map((r) => r.received)) };
      result.broadcast = broadcastRes;
      log(`scale: broadcast ${JSON.stringify(broadcastRes)}`);
      await noteTopology("the broadcast");

      // 5. kill -9 of the gateway with the most sockets.
      const before = await statusOf(generators);
      const fullest = Object.entries(before.byGw).sort((a, b) => b[1] - a[1])[0];
      if (fullest === undefined || fullest[1] === 0) {
        // Nothing left to kill (every socket gone before this step): the earlier steps' rows stand, and the log says why.
        log(`scale: no gateway has sockets left (${before.open} open): the kill -9 step is skipped`);
        return;
      }
      const victim = Number(fullest[0]);
      const survivors = gateways.map((_, k) => k).filter((k) => k !== victim);
      const stayAwayEvery = 47; // prime: not aligned with the broadcast chat's every N / 10,000-th user
      // Users whose session the revocation step ended are gone already (their leave was announced then).
      const revoked = new Set(picks.map((p) => p.i));
      const awayUsers = items.filter((x) => x.gw === victim && x.i % stayAwayEvery === 0 && !revoked.has(x.i) && (!inBroadcast(x.i) || o.connections <= bcast.members)).map((x) => x.userId);
      await Promise.all(generators.map((g) => g.call("watchLeaves", { userIds: awayUsers })));
      await Promise.all(generators.map((g) => g.call("stormArm", { gw: victim, survivors, stayAwayEvery })));
      await Promise.all(survivors.map((k) => gateways[k]!.call("timingStart")));
      const genPids = generators.map((g) => g.proc.pid!);
      const stormStart = { pg: await pgFacts(ctx.database.url), cpu: cpuSnapshot(), gwCpu: await cpuEach(survivors.map((k) => gateways[k]!)), handshakes: await handshakesOf(survivors.map((k) => gateways[k]!)), gen: userSys(genPids), tcp: tcpListenCounters(), at: Date.now() };
      // --profile with SCALE_PROFILE_STORM=1: a V8 profile of the first survivor over the storm.
      const stormProfiled = ctx.profileDir !== undefined && process.env.SCALE_PROFILE_STORM === "1" ? gateways[survivors[0]!]! : undefined;
      if (stormProfiled) await stormProfiled.call("profileStart", {});
      const killedAt = performance.timeOrigin + performance.now();
      gateways[victim]!.proc.kill("SIGKILL");
      log(`scale: killed gateway ${victim + 1} (${before.byGw[victim]} sockets)`);
      let stormState: { lost: number; away: number; back: number[]; attempts: number; failures: Record<string, number>; dropped: Record<number, number>; received: Record<string, number>; lag: { worst: number; over1s: number; over5s: number; ticks: number }; leaveRepeats: number }[] = [];
      const deadline = Date.now() + 90_000;
      for (;;) {
        await sleep(1_000);
        stormState = (await Promise.all(generators.map((g) => g.call<(typeof stormState)[number] | null>("storm")))).filter((s): s is (typeof stormState)[number] => s !== null);
        const lost = stormState.reduce((a, s) => a + s.lost, 0);
        const back = stormState.reduce((a, s) => a + s.back.length, 0);
        const away = stormState.reduce((a, s) => a + s.away, 0);
        if ((lost > 0 && back + away >= lost && Date.now() - killedAt > 16_000) || Date.now() > deadline) break;
      }
      const stormEnd = { pg: await pgFacts(ctx.database.url), cpu: cpuSnapshot(), gwCpu: await cpuEach(survivors.map((k) => gateways[k]!)), handshakes: await handshakesOf(survivors.map((k) => gateways[k]!)), gen: userSys(genPids), tcp: tcpListenCounters(), at: Date.now() };
      if (stormProfiled) {
        const file = join(ctx.profileDir!, `scale-storm-sgw${survivors[0]! + 1}.cpuprofile`);
        await stormProfiled.call("profileStop", { file }, 120_000);
        log(`scale: profile of sgw${survivors[0]! + 1} over the storm: ${file}`);
      }
      const backTimes = stormState.flatMap((s) => s.back).map((t) => t - killedAt).sort((a, b) => a - b);
      const lost = stormState.reduce((a, s) => a + s.lost, 0);
      const away = stormState.reduce((a, s) => a + s.away, 0);
      const returning = lost - away;
      const at = (q: number) => (backTimes.length >= Math.ceil(q * returning) ? backTimes[Math.ceil(q * returning) - 1]! : null);
      const after = await statusOf(generators);
      // Presence announces a dead gateway's users after its lease and their grace: a leave later than
      // the storm's end is waited for (up to 30 s after the kill), so that it is measured, not missed.
      // Each generator gives when its first connection got a user's leave: the leave went out at the
      // earliest of them, and had reached each generator holding one of the chat's members by the latest.
      const leavesNow = async () => {
        const seen = await Promise.all(generators.map((g) => g.call<Record<string, number>>("leaves")));
        const first: Record<string, number> = {};
        const everywhere: Record<string, number> = {};
        for (const [user, t] of seen.flatMap((l) => Object.entries(l))) {
          first[user] = Math.min(first[user] ?? Infinity, t);
          everywhere[user] = Math.max(everywhere[user] ?? -Infinity, t);
        }
        return { first, everywhere };
      };
      let leaves = await leavesNow();
      while (Object.keys(leaves.first).length < awayUsers.length && performance.timeOrigin + performance.now() - killedAt < 30_000) {
        await sleep(500);
        leaves = await leavesNow();
      }
      const missing = awayUsers.filter((u) => leaves.first[u] === undefined);
      if (missing.length > 0) log(`scale: no presence:leave seen for ${missing.length} user(s) who stayed away: ${missing.slice(0, 5).map((u) => `${u} (chat ${items.find((x) => x.userId === u)?.chat})`).join(", ")}`);
      const sinceKill = (times: Record<string, number>) => Object.values(times).map((t) => t - killedAt);
      const leaveTimes = sinceKill(leaves.first).sort((a, b) => a - b);
      const leaveAt = (q: number) => (leaveTimes.length > 0 ? leaveTimes[Math.ceil(q * leaveTimes.length) - 1]! : null);
      const firstBack = backTimes[0] ?? 0;
      const lastBack = backTimes.at(-1) ?? 0;
      const stormCpu = stormEnd.gwCpu.reduce((a, c, k) => a + c - stormStart.gwCpu[k]!, 0);
      // What the survivors spent on their own held connections meanwhile (their share of the hold's cores), left out of the net figure.
      const survivorsIdleUs = hold.gatewayCores * (survivors.length / o.gateways) * (stormEnd.at - stormStart.at) * 1_000;
      const kill = {
        victim: victim + 1,
        sockets: before.byGw[victim],
        lost,
        away,
        back: backTimes.length,
        ms99: at(0.99),
        ms100: at(1),
        handshakesPerSecond: backTimes.length / Math.max(0.001, (lastBack - firstBack) / 1000),
        gatewayCpuUsPerHandshake: stormCpu / Math.max(1, backTimes.length),
        netGatewayCpuUsPerHandshake: Math.max(0, stormCpu - survivorsIdleUs) / Math.max(1, backTimes.length),
        attempts: stormState.reduce((a, s) => a + s.attempts, 0),
        failures: sumCounts(stormState.map((s) => s.failures)),
        /** What the clients received meanwhile, by event (what the survivors were busy sending). */
        eventsMeanwhile: sumCounts(stormState.map((s) => s.received)),
        /** presence:leave received again by the same connection for the same chat and user (a repeat announcement). */
        leaveRepeats: stormState.reduce((a, s) => a + s.leaveRepeats, 0),
        postgresCommits: stormEnd.pg.commits - stormStart.pg.commits,
        droppedElsewhere: after.droppedTotal - before.droppedTotal,
        /** The stayers' leaves, from the kill: when each first reached one of its chat's members (p50, p90, first, last), and when the last reached every generator holding one. */
        leaves: { awaited: awayUsers.length, seen: leaveTimes.length, lastMs: leaveTimes.at(-1) ?? null, firstMs: leaveTimes[0] ?? null, p50Ms: leaveAt(0.5), p90Ms: leaveAt(0.9), everywhereMs: leaveTimes.length > 0 ? Math.max(...sinceKill(leaves.everywhere)) : null },
        machine: cpuUse(stormStart.cpu, stormEnd.cpu),
        /** The survivors' handshakes by result meanwhile (ok, busy past HANDSHAKE_MAX_PENDING, lagging, a refusal's code; `unread`: survivors whose metrics did not answer). */
        gatewayHandshakes: handshakesBetween(stormEnd.handshakes, stormStart.handshakes),
        /**
         * The load generators' own event-loop delay meanwhile (a 100 ms timer's lateness): the worst in any of
         * them, and their ticks later than 1 s and 5 s of all ticks. A late client loop reads its answers late.
         */
        generatorsLag: {
          worstMs: Math.max(...stormState.map((st) => st.lag.worst)),
          over1s: stormState.reduce((a, st) => a + st.lag.over1s, 0),
          over5s: stormState.reduce((a, st) => a + st.lag.over5s, 0),
          ticks: stormState.reduce((a, st) => a + st.lag.ticks, 0),
        },
        /** Each survivor's upgrades meanwhile: their time from accept, and its event loop's delay (bench/lib/server-proc.ts upgradeTiming). */
        survivorsTiming: await Promise.all(survivors.map((k) => gateways[k]!.call("timing").catch(() => null))),
        /** The load generators' own CPU-seconds meanwhile, in user space and in the kernel. */
        generatorsCpu: { user: stormEnd.gen.user - stormStart.gen.user, sys: stormEnd.gen.sys - stormStart.gen.sys },
        /** The kernel's listen-queue counters meanwhile (tcpListenCounters): connects that waited before an accept. */
        tcpListen: Object.fromEntries(TCP_LISTEN_COUNTERS.map((n) => [n, (stormEnd.tcp[n] ?? 0) - (stormStart.tcp[n] ?? 0)])),
        open: after.open,
      };
      result.kill = kill;
      log(`scale: kill -9 ${JSON.stringify(kill)}`);
      await noteTopology("the kill -9");

      result.model = compareWithModel(hold, steps, kill, log);

      row("scale.revocation-p99", {
        figure: `revocation at ${hold.open} held: call returned → socket gone, p99 (p50 ${revocation.latency.p50.toFixed(1)} ms; ${revocation.sessions} sessions on every gateway; ${revocation.notGone} not gone within 30 s)`,
        ours: revocation.latency.p99,
        baseline: null,
        unit: "ms",
        ratio: null,
        valid: revocation.notGone === 0 && revocation.httpFailed === 0,
      });
      row("scale.broadcast-p99", {
        figure: `broadcast into a chat of ${bcast.members} on every gateway, delivery p99 (p50 ${broadcastRes.latency.p50.toFixed(1)} ms; ${broadcastRes.received}/${broadcastRes.expected} delivered, ${broadcastRes.duplicates} twice)`,
        ours: broadcastRes.latency.p99,
        baseline: null,
        unit: "ms",
        ratio: null,
        valid: broadcastRes.received === broadcastRes.expected && broadcastRes.duplicates === 0 && broadcastRes.acked === 10,
      });
      row("scale.kill-100", {
        figure: `kill -9 of the fullest gateway (${kill.sockets} sockets): all its clients back elsewhere (99 % at ${kill.ms99 === null ? "never" : `${(kill.ms99 / 1000).toFixed(1)} s`}; ${kill.handshakesPerSecond.toFixed(0)} handshakes/s; ${kill.droppedElsewhere} dropped elsewhere; ${kill.leaves.seen}/${kill.leaves.awaited} leaves, p50 ${kill.leaves.p50Ms === null ? "–" : (kill.leaves.p50Ms / 1000).toFixed(1)} s, the last at ${kill.leaves.lastMs === null ? "never" : `${(kill.leaves.lastMs / 1000).toFixed(1)} s`})`,
        ours: kill.ms100 === null ? null : kill.ms100 / 1000,
        baseline: null,
        unit: "s",
        ratio: null,
        valid: kill.droppedElsewhere === 0 && kill.leaves.seen === kill.leaves.awaited,
      });
    } finally {
      await Promise.all([...generators, ...gateways, ...(apiChild ? [apiChild] : [])].map((c) => c.stop().catch(() => undefined)));
      if (cluster) {
        await cluster.stop();
        releaseCluster?.();
      }
    }
  },
};

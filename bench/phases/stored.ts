/**
 * `--only=stored` (issue 11, item 3): stored messages per second. Every `message:send` is stored
 * in PostgreSQL before it is acknowledged, so PostgreSQL bounds the durable messages per second.
 * The same run measures:
 * - ours: 200 sockets on one gateway, each alone in a chat of its own (so delivery costs little:
 *   the figure is the store path), sending closed-loop (the next send when the last is acked);
 * - direct: the same single-row inserts, one statement per message, 200 at once on a pool of 10
 *   (a gateway's pool size), from a process of their own: PostgreSQL's own rate for them.
 * Rounds alternate (direct, ours) so the machine's noise hits both; the medians are compared.
 * Also recorded for the capacity model: gateway CPU, PostgreSQL CPU and commits per message.
 */
import { join } from "node:path";
import type { BenchContext, Phase } from "../lib/context";
import { cpuSnapshot, cpuText, cpuUse, type CpuUse } from "../lib/cpu-account";
import { type Child, sleep, spawnChild } from "../lib/ipc";
import { RAISED_LIMITS } from "../lib/load";
import { redisCpuSeconds, redisInfo } from "../lib/redis-cluster";
import { startRedisServer } from "../lib/redis-server";
import { seed } from "../lib/setup";
import { medianRound as median, type Summary } from "../lib/stats";

export const STORED = {
  senders: 200,
  generators: 4,
  poolSize: 10,
  roundMs: 4_000,
  warmMs: 1_500,
  rounds: 3,
  text: "a stored message of about sixty characters, as a chat line is",
  /** The gateway's limits raised as in the cluster phase: 200 users sending thousands per second. */
  env: RAISED_LIMITS,
};

interface RunResult {
  done: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  latency: Summary;
}

export interface StoredRound {
  kind: "ours" | "direct";
  perSecond: number;
  failed: number;
  errors: Record<string, number>;
  ackP50: number;
  ackP99: number;
  /** Commits in the bench database per message (pg_stat_database.xact_commit; flushed about once a second, so approximate). */
  commitsPerMessage: number;
  /** CPU per message, µs: the gateway process (ours only), PostgreSQL (all its processes). */
  gatewayUs: number | null;
  postgresUs: number;
  /** Redis per message (direct: none of ours): commands, bytes in and out, CPU µs. */
  redis: ReturnType<typeof redisPer>;
  cpu: CpuUse | null;
}

/** Redis's own counters (INFO stats and cpu of the bench's redis-server). */
interface RedisCounters {
  commands: number;
  inBytes: number;
  outBytes: number;
  cpuSeconds: number;
}

async function redisCounters(port: number): Promise<RedisCounters> {
  const stats = await redisInfo(port, "stats");
  return {
    commands: Number(stats.total_commands_processed ?? 0),
    inBytes: Number(stats.total_net_input_bytes ?? 0),
    outBytes: Number(stats.total_net_output_bytes ?? 0),
    cpuSeconds: await redisCpuSeconds(port),
  };
}

/** Redis per unit of work between two readings (less the `extra` commands the readings themselves made, and `background` if given). */
function redisPer(a: RedisCounters, b: RedisCounters, units: number, extra: number, background?: RedisCounters) {
  const n = Math.max(1, units);
  const bg = background ?? { commands: 0, inBytes: 0, outBytes: 0, cpuSeconds: 0 };
  return {
    commands: Math.max(0, b.commands - a.commands - extra - bg.commands) / n,
    inBytes: Math.max(0, b.inBytes - a.inBytes - bg.inBytes) / n,
    outBytes: Math.max(0, b.outBytes - a.outBytes - bg.outBytes) / n,
    cpuUs: (Math.max(0, b.cpuSeconds - a.cpuSeconds - bg.cpuSeconds) * 1e6) / n,
  };
}

/**
 * Waits (at most `maxMs`) until the bench's Redis is nearly idle: the servers of earlier phases
 * still run their timers (presence graces ending, leases, sweeps). Returns what it still did per
 * millisecond in the last second waited, to subtract from a short reading.
 */
async function redisBackground(port: number, maxMs = 15_000): Promise<RedisCounters> {
  let prev = await redisCounters(port);
  let perMs: RedisCounters = { commands: 0, inBytes: 0, outBytes: 0, cpuSeconds: 0 };
  for (const end = Date.now() + maxMs; Date.now() < end; ) {
    const t = Date.now();
    await sleep(1_000);
    const cur = await redisCounters(port);
    const ms = Date.now() - t;
    // Each reading is two commands of its own.
    perMs = { commands: Math.max(0, cur.commands - prev.commands - 2) / ms, inBytes: (cur.inBytes - prev.inBytes) / ms, outBytes: (cur.outBytes - prev.outBytes) / ms, cpuSeconds: (cur.cpuSeconds - prev.cpuSeconds) / ms };
    prev = cur;
    if (perMs.commands < 0.02) break;
  }
  return perMs;
}

const scaled = (perMs: RedisCounters, ms: number): RedisCounters => ({ commands: perMs.commands * ms, inBytes: perMs.inBytes * ms, outBytes: perMs.outBytes * ms, cpuSeconds: perMs.cpuSeconds * ms });

/** What the measurement needs besides the bench's context: the phase's own redis-server. */
interface StoredRun {
  ctx: BenchContext;
  /** The environment of the measured gateway: the bench's, on the phase's own Redis. */
  env: Record<string, string>;
  /** The port of that redis-server (the gateway's adapter, bus and limits). */
  redisPort: number;
}

/**
 * A redis-server of its own: with the classic adapter every gateway on a Redis receives and
 * decodes every broadcast, and the earlier phases' gateways (gw1-gw3) would each do so for
 * every stored message (the full runs read 1,860 B of Redis output per message against 938 B
 * in the phase alone, and 0.77x against 0.84x), taking the shared cores from the one measured.
 */
export const storedPhase: Phase = {
  name: "stored",
  needs: [],
  async run(ctx) {
    const own = await startRedisServer();
    const release = ctx.guard(() => own.stop());
    try {
      await measureStored({ ctx, env: { ...ctx.env, BENCH_REDIS_URL: own.url }, redisPort: own.port });
    } finally {
      await own.stop();
      release();
    }
  },
};

async function measureStored({ ctx, env, redisPort }: StoredRun): Promise<void> {
  const seeded = await seed(ctx.database.url, ctx.tokens, "stored_", STORED.senders, STORED.senders);
  const items = seeded.users.map((u, i) => ({ token: u.token, chatId: seeded.chatOf(i)!, senderId: u.userId }));
  const gw = await spawnChild("gw-stored", ctx.serverFile, {
    env: { ...env, ...STORED.env, BENCH_MODE: "ours" },
    nodeFlags: ctx.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${ctx.profileDir}`] : [],
  });
  const procFile = join(__dirname, "../lib/stored-proc.ts");
  const gens: Child[] = await Promise.all(
    Array.from({ length: STORED.generators + 1 }, (_, k) => spawnChild(k === 0 ? "stored-direct" : `stored${k}`, procFile, { env: { BENCH_LOCAL_ADDRESS: `127.0.0.${k + 2}` } })),
  );
  const [directProc, ...senders] = gens as [Child, ...Child[]];
  try {
    const per = Math.ceil(items.length / senders.length);
    // Servers of earlier phases share this Redis: wait for their timers to quieten, and subtract what they still do.
    const background = await redisBackground(redisPort);
    const r0 = await redisCounters(redisPort);
    const t0 = Date.now();
    const opened = await Promise.all(senders.map((g, k) => g.call<number>("open", { url: gw.info.url, items: items.slice(k * per, (k + 1) * per) }, 60_000)));
    // Each INFO reading is one command (two per redisCounters).
    const redisPerJoin = redisPer(r0, await redisCounters(redisPort), opened.reduce((a, b) => a + b, 0), 2, scaled(background, Date.now() - t0));
    ctx.log(
      `stored: ${opened.reduce((a, b) => a + b, 0)} senders joined their own chats on gw-stored (${senders.length} generators; Redis per join ${redisPerJoin.commands.toFixed(2)} commands, ` +
        `background ${(background.commands * 1000).toFixed(0)} commands/s subtracted); direct inserts from stored-direct, pool ${STORED.poolSize}`,
    );

    const gwCpu = async () => {
      const c = await gw.call<{ cpu: { user: number; system: number } }>("cpu");
      return c.cpu.user + c.cpu.system;
    };
    const measure = async (kind: "ours" | "direct", durationMs: number): Promise<StoredRound> => {
      const [c0, x0, rc0, m0] = [await gwCpu(), await ctx.commits(), await redisCounters(redisPort), cpuSnapshot()];
      const parts =
        kind === "ours"
          ? await Promise.all(senders.map((g) => g.call<RunResult>("send", { durationMs, text: STORED.text }, durationMs + 30_000)))
          : [
              await directProc.call<RunResult>(
                "direct",
                { databaseUrl: ctx.database.url, poolSize: STORED.poolSize, concurrency: STORED.senders, durationMs, items, text: STORED.text },
                durationMs + 30_000,
              ),
            ];
      const m1 = cpuSnapshot();
      const c1 = await gwCpu();
      const rc1 = await redisCounters(redisPort);
      // Let the statistics collector flush (PostgreSQL reports a backend's counts at most about once a second).
      await sleep(1_100);
      const x1 = await ctx.commits();
      const cpu = cpuUse(m0, m1);
      const done = parts.reduce((a, p) => a + p.done, 0);
      const seconds = Math.max(...parts.map((p) => p.seconds));
      const errors: Record<string, number> = {};
      for (const p of parts) for (const [k, v] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + v;
      return {
        kind,
        perSecond: done / seconds,
        failed: parts.reduce((a, p) => a + p.failed, 0),
        errors,
        ackP50: median(parts.map((p) => p.latency.p50)),
        ackP99: Math.max(...parts.map((p) => p.latency.p99)),
        commitsPerMessage: (x1 - x0 - 1) / Math.max(1, done),
        gatewayUs: kind === "ours" ? (c1 - c0) / Math.max(1, done) : null,
        postgresUs: cpu ? (cpu.postgres * 1e6) / Math.max(1, done) : NaN,
        redis: redisPer(rc0, rc1, done, 2),
        cpu,
      };
    };

    await measure("direct", STORED.warmMs);
    await measure("ours", STORED.warmMs);
    const rounds: StoredRound[] = [];
    for (let r = 1; r <= STORED.rounds; r += 1) {
      for (const kind of ["direct", "ours"] as const) {
        const m = await measure(kind, STORED.roundMs);
        rounds.push(m);
        ctx.log(
          `stored: ${kind} round ${r}: ${m.perSecond.toFixed(0)} messages/s stored, ${m.failed} failed ${JSON.stringify(m.errors)}, ack p50/p99 ${m.ackP50.toFixed(1)}/${m.ackP99.toFixed(1)} ms, ` +
            `${m.commitsPerMessage.toFixed(3)} commits and ${m.redis.commands.toFixed(2)} Redis commands (${m.redis.inBytes.toFixed(0)} B in, ${m.redis.outBytes.toFixed(0)} B out) each, CPU per message: ${m.gatewayUs === null ? "" : `gateway ${m.gatewayUs.toFixed(0)} µs, `}PostgreSQL ${m.postgresUs.toFixed(0)} µs; ${cpuText(m.cpu)}`,
        );
      }
    }
    const of = (kind: "ours" | "direct") => rounds.filter((x) => x.kind === kind);
    const ours = median(of("ours").map((x) => x.perSecond));
    const direct = median(of("direct").map((x) => x.perSecond));
    const failed = of("ours").reduce((a, x) => a + x.failed, 0);
    const summaryOf = (kind: "ours" | "direct") => ({
      perSecond: median(of(kind).map((x) => x.perSecond)),
      ackP50: median(of(kind).map((x) => x.ackP50)),
      ackP99: median(of(kind).map((x) => x.ackP99)),
      commitsPerMessage: median(of(kind).map((x) => x.commitsPerMessage)),
      gatewayUsPerMessage: kind === "ours" ? median(of(kind).map((x) => x.gatewayUs ?? NaN)) : null,
      postgresUsPerMessage: median(of(kind).map((x) => x.postgresUs)),
      redisPerMessage: {
        commands: median(of(kind).map((x) => x.redis.commands)),
        inBytes: median(of(kind).map((x) => x.redis.inBytes)),
        outBytes: median(of(kind).map((x) => x.redis.outBytes)),
        cpuUs: median(of(kind).map((x) => x.redis.cpuUs)),
      },
    });
    /**
     * details.stored: `ours` and `direct`, each the median round: perSecond (messages stored and
     * acknowledged per second), ackP50/ackP99 (ms), commitsPerMessage, gatewayUsPerMessage (ours),
     * postgresUsPerMessage (PostgreSQL CPU per message), redisPerMessage {commands, inBytes,
     * outBytes, cpuUs} (one gateway on one redis-server); `redisPerJoin`: the same per handshake
     * with a `chat:join` (opening the senders); `rounds`: every round.
     */
    ctx.details.stored = { senders: STORED.senders, poolSize: STORED.poolSize, ours: summaryOf("ours"), direct: summaryOf("direct"), redisPerJoin, rounds };
    const s = ctx.details.stored as { ours: ReturnType<typeof summaryOf>; direct: ReturnType<typeof summaryOf> };
    ctx.row("stored.rate", {
      figure: `stored messages/s: message:send acked (${STORED.senders} sockets closed-loop, one gateway) vs the same single-row inserts directly (${STORED.senders} at once, pool of ${STORED.poolSize}), median of ${STORED.rounds}`,
      ours,
      baseline: direct,
      unit: "/s",
      ratio: ours / direct,
      valid: failed === 0,
      note:
        `${failed} sends failed; ack p50/p99 ${s.ours.ackP50.toFixed(1)}/${s.ours.ackP99.toFixed(1)} ms vs insert p50/p99 ${s.direct.ackP50.toFixed(1)}/${s.direct.ackP99.toFixed(1)} ms; ` +
        `commits per message ${s.ours.commitsPerMessage.toFixed(3)} vs ${s.direct.commitsPerMessage.toFixed(3)}; PostgreSQL CPU per message ${s.ours.postgresUsPerMessage.toFixed(0)} vs ${s.direct.postgresUsPerMessage.toFixed(0)} µs; ` +
        `gateway CPU per message ${s.ours.gatewayUsPerMessage?.toFixed(0)} µs; Redis per message ${s.ours.redisPerMessage.commands.toFixed(2)} commands, ` +
        `${s.ours.redisPerMessage.inBytes.toFixed(0)} B in, ${s.ours.redisPerMessage.outBytes.toFixed(0)} B out, ${s.ours.redisPerMessage.cpuUs.toFixed(0)} µs CPU`,
    });
  } finally {
    await Promise.all([gw, ...gens].map((c) => c.stop()));
  }
}

/**
 * The handshake method the handshake, presence and cluster phases share: servers measured in turn,
 * rounds of the same users reconnecting, per round the rate, the server's own CPU per handshake,
 * PostgreSQL transactions per handshake, and who else used the CPU meanwhile.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { GRACE_MS } from "../../shared/presence/presence";
import type { BenchContext } from "./context";
import { cpuSnapshot, cpuText, type CpuUse, cpuUse, disturbed } from "./cpu-account";
import { type Child, sleep } from "./ipc";
import { closeAll, connectAll, type LoadItem } from "./load";
import { serverCpuUs } from "./probes";

export const HANDSHAKE = {
  /** Connections per measured round. */
  round: 4_000,
  rounds: 3,
};

export interface HandshakeRound {
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

/** The best rate of some rounds. */
export const bestRate = (xs: { rate: number }[]) => Math.max(...xs.map((x) => x.rate));

/**
 * Warm-up (a round's users twice, held the first time, on each server), then `HANDSHAKE.rounds`
 * rounds of `HANDSHAKE.round` connections held, 100 in flight, the servers in turn.
 * `redisCpu` (optional, per server): Redis CPU-seconds used so far.
 * `mode` "reconnect" (default): the users drop just before their round and return 1.1 s later, within
 * presence's grace. "fresh": they drop right after their round and return only once the grace
 * has run out, so every handshake is a fresh join (announced to the chat's others).
 */
export async function handshakeRounds(
  ctx: BenchContext,
  tag: string,
  servers: [string, Child][],
  load: LoadItem[],
  redisCpu: Record<string, () => Promise<number>> = {},
  mode: "reconnect" | "fresh" = "reconnect",
): Promise<Record<string, HandshakeRound[]>> {
  const { clients, log } = ctx;
  log(`${tag}: warm-up`);
  const own = (s: Child) => ({ url: s.info.url as string });
  const users = load.slice(0, HANDSHAKE.round);
  for (let i = 0; i < 2; i += 1) {
    for (const [, s] of servers) {
      // Both passes are the rounds' users, held open like a round's (each server's heap has grown
      // to hold them once before anything is measured: the first measured round of either server
      // otherwise paid for that growth, 20-40 % above its other rounds). The second pass stays
      // open: the first round's users drop just before they reconnect, as in every round.
      if (i === 1) await closeAll(clients, [s], own(s));
      await connectAll(clients, s.info.url as string, users);
      if (i === 0) await closeAll(clients, [s], own(s));
    }
  }
  const rounds: Record<string, HandshakeRound[]> = Object.fromEntries(servers.map(([name]) => [name, []]));
  const closedAt = new Map<string, number>(servers.map(([name]) => [name, Date.now()]));
  for (let r = 0; r < HANDSHAKE.rounds; r += 1) {
    for (const [name, server] of servers) {
      // A reconnect storm: the server's previous connections (the same users) drop, and 1.1 s
      // later they all come back. Each server keeps its users until its own next round, so that
      // they return within seconds however long the other server's round takes (and within
      // presence's 10 s grace, as clients with a jittered back-off do). Dropping them is measured
      // too: handshake + close. In "fresh" mode they dropped after their last round instead, and
      // come back once presence's grace is over.
      const beforeClose = await serverCpuUs(server);
      await closeAll(clients, [server], own(server));
      const closeUs = (await serverCpuUs(server)) - beforeClose;
      const graceOver = (closedAt.get(name) ?? 0) + GRACE_MS + 1_500;
      await sleep(mode === "fresh" ? Math.max(1_100, graceOver - Date.now()) : 1_100);
      const xacts = await ctx.commits();
      const redisBefore = await redisCpu[name]?.();
      const before = await serverCpuUs(server);
      const machine = cpuSnapshot();
      if (ctx.profileDir) await server.call("profileStart");
      const threads0 = await server.call<Record<string, number>>("threads");
      const calls0 = await server.call<{ reads: number; writes: number }>("syscalls");
      const perfT0 = process.hrtime.bigint();
      const res = await connectAll(clients, server.info.url as string, users);
      if (ctx.options.perfWindows) writeFileSync(ctx.options.perfWindows, `${tag} ${name} ${perfT0} ${process.hrtime.bigint()}\n`, { flag: "a" });
      const calls1 = await server.call<{ reads: number; writes: number }>("syscalls");
      const cpu = cpuUse(machine, cpuSnapshot());
      const cpuUs = (await serverCpuUs(server)) - before;
      const threads1 = await server.call<Record<string, number>>("threads");
      const byThread = Object.entries(threads1)
        .map(([k, v]) => [k, ((v - (threads0[k] ?? 0)) * 1e6) / Math.max(1, HANDSHAKE.round)] as const)
        .filter(([, us]) => us >= 1)
        .sort((a, b) => b[1] - a[1]);
      if (ctx.profileDir) await server.call("profileStop", { file: join(ctx.profileDir, `${tag.replace(/\W+/g, "-")}-${name}-round${r + 1}.cpuprofile`) });
      const redisAfter = await redisCpu[name]?.();
      await sleep(1_100);
      const queries = (await ctx.commits()) - xacts - 2; // less the two reads of the statistics
      if (mode === "fresh") {
        await closeAll(clients, [server], own(server));
        closedAt.set(name, Date.now());
      }
      const ok = Math.max(1, res.ok);
      const perHandshake = queries / ok;
      const redisUs = redisBefore !== undefined && redisAfter !== undefined ? ((redisAfter - redisBefore) * 1e6) / ok : undefined;
      const syscalls = { writes: (calls1.writes - calls0.writes) / ok, reads: (calls1.reads - calls0.reads) / ok };
      rounds[name]!.push({
        rate: res.rate,
        cpuUsPerHandshake: cpuUs / ok,
        failed: res.failed,
        p50: res.p50,
        queriesPerHandshake: perHandshake,
        cpu,
        // A connection's whole life: this handshake plus the close of the same number of the same users' connections.
        cycleCpuUsPerHandshake: (cpuUs + closeUs) / ok,
        syscallsPerHandshake: syscalls,
        ...(redisUs !== undefined ? { redisUsPerHandshake: redisUs } : {}),
      });
      log(
        `${tag}: ${name} round ${r + 1}: ${res.rate.toFixed(0)}/s, ${(cpuUs / ok).toFixed(0)} µs server CPU each, ` +
          `${redisUs !== undefined ? `${redisUs.toFixed(0)} µs Redis CPU each, ` : ""}` +
          `${perHandshake.toFixed(3)} queries each, ${res.failed} failed ${JSON.stringify(res.errors)}; by thread (µs each) ${byThread.map(([k, us]) => `${k} ${us.toFixed(0)}`).join(", ")}; ` +
          `system calls each: ${syscalls.writes.toFixed(2)} writes, ${syscalls.reads.toFixed(2)} reads; ${cpuText(cpu)}${disturbed(cpu) ? " (DISTURBED)" : ""}`,
      );
    }
  }
  for (const [, server] of servers) await closeAll(clients, [server], own(server));
  return rounds;
}

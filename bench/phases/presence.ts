/**
 * `--only=presence` (issue 12's figures): handshake CPU and Redis commands with presence against
 * without it (two gateways of the phase's own, PRESENCE=on and off, same load: each handshake
 * joins one of 200 chats); `GET /chats/:id/presence` latency for a chat with 10,000 online (the
 * entries written through the store as 10,000 gateways' sockets would); the time from kill -9 of
 * a gateway holding 200 users of a chat to the last of their presence:leave at a watcher elsewhere.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { GRACE_MS } from "../../shared/presence/presence";
import { RedisPresence } from "../../shared/presence/redis-presence";
import type { Phase } from "../lib/context";
import { HANDSHAKE, type HandshakeRound, handshakeRounds } from "../lib/handshake-rounds";
import { type Child, sleep, spawnChild } from "../lib/ipc";
import { closeAll, connectAll, RAISED_LIMITS } from "../lib/load";
import { redisInfo } from "../lib/redis-cluster";
import { seed } from "../lib/setup";
import { medianRound, summary } from "../lib/stats";

export const presencePhase: Phase = {
  name: "presence",
  needs: ["clients"],
  async run(ctx) {
    const { clients, database, redis, tokens, env, serverFile, details, row } = ctx;
    /** With --profile: node's CPU profiles of a gateway (one per thread; tsx adds a loader thread) into bench/results/prof/<name>. */
    const profiling = (name: string) => (ctx.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${join(ctx.profileDir, name)}`] : []);
    const P = { chats: 200, online: 10_000, gets: 400, victims: 200 };
    const seeded = await seed(database.url, tokens, "pres_", HANDSHAKE.round, P.chats);
    const load = seeded.users.map((u, i) => ({ token: u.token, chat: seeded.chatOf(i) }));
    const limits = RAISED_LIMITS;
    const [on, off, api] = await Promise.all([
      spawnChild("gw-presence", serverFile, { env: { ...env, ...limits, BENCH_MODE: "ours", PRESENCE: "on" }, nodeFlags: ["--expose-gc", ...profiling(`presence-on`)] }),
      spawnChild("gw-no-presence", serverFile, { env: { ...env, ...limits, BENCH_MODE: "ours", PRESENCE: "off" }, nodeFlags: ["--expose-gc", ...profiling(`presence-off`)] }),
      spawnChild("api-presence", serverFile, { env: { ...env, BENCH_MODE: "api" } }),
    ]);
    const others: Child[] = [];
    try {
      // 1. Handshakes (each into a chat) with and without presence, and Redis commands per handshake.
      const commandsNow = async () => Number((await redisInfo(redis.port, "stats")).total_commands_processed ?? 0);
      const perHandshake: Record<string, number> = {};
      for (const [name, gw] of [["on", on], ["off", off]] as const) {
        const before = await commandsNow();
        const res = await connectAll(clients, gw.info.url as string, load.slice(0, 2_000));
        await closeAll(clients, [gw]);
        await sleep(1_500); // the leaves' scripts
        perHandshake[name] = ((await commandsNow()) - before - 2) / Math.max(1, res.ok);
      }
      const rounds: Record<string, Record<string, HandshakeRound[]>> = {};
      for (const mode of ["fresh", "reconnect"] as const) {
        const r = (rounds[mode] = await handshakeRounds(ctx, `presence handshakes (${mode})`, [["off", off], ["on", on]], load, {}, mode));
        const cpuOn = medianRound(r.on!.map((x) => x.cpuUsPerHandshake));
        const cpuOff = medianRound(r.off!.map((x) => x.cpuUsPerHandshake));
        row(mode === "fresh" ? "presence.cpu-fresh" : "presence.cpu-reconnect", {
          figure:
            mode === "fresh"
              ? "presence: gateway CPU per handshake into a chat, fresh joins (each announced to the chat's others), with presence vs without (PRESENCE=off; median of 3 rounds)"
              : "presence: gateway CPU per handshake into a chat, reconnects within the 10 s grace (nothing announced), with presence vs without (PRESENCE=off; median of 3 rounds)",
          ours: cpuOn,
          baseline: cpuOff,
          unit: "µs",
          ratio: cpuOn / cpuOff,
          note: `rounds: with ${r.on!.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")}, without ${r.off!.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")} µs`,
        });
      }
      row("presence.redis-commands", {
        figure: "presence: Redis commands executed per connect into a chat and disconnect (2000 sockets each in one of 200 chats; join and leave scripts' inner commands count)",
        ours: perHandshake.on!,
        baseline: perHandshake.off!,
        unit: "",
        ratio: null,
        note: `${(perHandshake.on! - perHandshake.off!).toFixed(1)} more with presence`,
      });

      // 2. GET /chats/:id/presence for a chat with 10,000 online.
      const chatId = seeded.chatIds[0]!;
      const caller = seeded.users[0]!;
      const client = new Redis(redis.url);
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
        const memBefore = Number((await redisInfo(redis.port, "memory")).used_memory ?? 0);
        for (let i = 0; i < P.online; i += 500) {
          await Promise.all(
            Array.from({ length: Math.min(500, P.online - i) }, (_, k) => store.join("bench-gateway", chatId, { id: randomUUID(), username: `online_${i + k}` })),
          );
        }
        const memAfter = Number((await redisInfo(redis.port, "memory")).used_memory ?? 0);
        const full = await getLatencies(chatId, P.gets);
        const s = full.s;
        const count = full.body.count;
        const listed = full.body.users.length;
        row("presence.get-p99", {
          figure: `presence: GET /chats/:id/presence for a chat with ${P.online.toLocaleString("en")} online, p99 (${P.gets} sequential requests to one api process)`,
          ours: s.p99,
          baseline: empty.s.p99,
          unit: "ms",
          ratio: s.p99 / empty.s.p99,
          note: `baseline: the same call on a chat with nobody online; p50 ${s.p50.toFixed(2)} vs ${empty.s.p50.toFixed(2)} ms; count ${count}, ${listed} listed; Redis memory per online entry ${((memAfter - memBefore) / P.online).toFixed(0)} B (counts, names and the gateway's set)`,
        });
        details.presence = { perHandshake, rounds, get: s, online: P.online, redisBytesPerEntry: (memAfter - memBefore) / P.online };
      } finally {
        client.disconnect();
      }

      // 3. kill -9 of a gateway holding 200 users of a chat: their leaves at a watcher on another gateway.
      const victimChat = seeded.chatIds[1]!;
      const inChat = seeded.users.filter((_, i) => seeded.chatOf(i) === victimChat);
      const victim = await spawnChild("gw-victim", serverFile, { env: { ...env, ...limits, BENCH_MODE: "ours" } });
      others.push(victim);
      const procFile = join(__dirname, "../lib/stored-proc.ts");
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
      row("presence.kill-leave", {
        figure: `presence: kill -9 of a gateway holding ${wanted} users of a chat → the last of their presence:leave at a watcher on another gateway`,
        ours: last,
        baseline: null,
        unit: "ms",
        ratio: null,
        valid: leaves.length >= wanted,
        note: `${leaves.length}/${wanted} leaves, the first at ${first.toFixed(0)} ms`,
      });
      (details.presence as Record<string, unknown>).kill = { wanted, got: leaves.length, firstMs: first, lastMs: last };
    } finally {
      await Promise.all([on, off, api, ...others].map((c) => c.stop()));
    }
  },
};

/**
 * `--only=cluster` (issue 10's figures): two gateways on one redis-server (the bench's) against two on
 * a 3-master Redis Cluster of the phase's own (bin/redis-cluster.sh on free ports, stopped after the
 * phase), same settings, same load, side by side: sharded subscriptions per socket and per chat,
 * handshake rate and CPU, cross-gateway delivery latency, and saturation. BENCH_LOG_DIR=<dir>: the
 * gateway children log there, and their logs are summarized at the end.
 */
import { cpus } from "node:os";
import { join } from "node:path";
import { logSummary } from "../lib/child-log";
import type { Phase } from "../lib/context";
import { adoptPids, cpuSnapshot, cpuText, type CpuUse, cpuUse, disturbed } from "../lib/cpu-account";
import { bestRate, HANDSHAKE, type HandshakeRound, handshakeRounds } from "../lib/handshake-rounds";
import { type Child, sleep, spawnChild } from "../lib/ipc";
import { CLIENTS, closeAll, connectAll, PER_CLIENT_CONCURRENCY, RAISED_LIMITS } from "../lib/load";
import { clientList, cliRuns, redisCpuSeconds, redisInfo, startBenchRedisCluster } from "../lib/redis-cluster";
import { busyCores, firstFailText, ladderRule, ladderText, newSide, type SatSide, satLadder, sustained } from "../lib/saturation";
import { settledSubs, subsText } from "../lib/shard-subs";
import { seed } from "../lib/setup";
import { medianRound } from "../lib/stats";
import { DELIVERY, type DeliveryResult, deliveryLoad } from "./delivery";

/**
 * Both pairs run with the posting limit and the per-socket event budget raised alike (`env`): the
 * saturation steps send thousands of messages per second from 40 users, far past the default 60 per
 * 10 s per user and 10 events per second per socket; nothing else differs.
 */
const CLUSTER = {
  env: RAISED_LIMITS,
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
  handshakeUsers: HANDSHAKE.round,
};

export const clusterPhase: Phase = {
  name: "cluster",
  needs: ["clients"],
  async run(ctx) {
    const { clients, database, tokens, serverFile, log, row } = ctx;
    const started = Date.now();
    const cl = await startBenchRedisCluster();
    const release = ctx.guard(() => cl.stop());
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
    const env = { ...ctx.env, ...CLUSTER.env, BENCH_MODE: "ours" };
    const spawnOpts = (cluster: boolean) => ({ env: { ...env, ...(cluster ? { BENCH_REDIS_CLUSTER_NODES: cl.seeds } : {}) }, nodeFlags: ["--expose-gc"] });
    const [spawned, hs, roomOne, roomCl] = await Promise.all([
      Promise.allSettled([
        spawnChild("gw-one-a", serverFile, spawnOpts(false)),
        spawnChild("gw-one-b", serverFile, spawnOpts(false)),
        spawnChild("gw-cl-a", serverFile, spawnOpts(true)),
        spawnChild("gw-cl-b", serverFile, spawnOpts(true)),
      ]),
      seed(database.url, tokens, "clhs_", CLUSTER.handshakeUsers, CLUSTER.chats),
      seed(database.url, tokens, "clone_", CLUSTER.room, 1),
      seed(database.url, tokens, "clcl_", CLUSTER.room, 1),
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
      const oneRedisGross = () => redisCpuSeconds(ctx.redis.port);
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
      ctx.details.cluster = details;

      // 2. Sharded subscriptions: idle, with sockets in no chat, with sockets in chats, after all left.
      const base = await settledSubs(cl, pair);
      log(`cluster: subscriptions, no socket: ${subsText(base)}`);
      const idle = hs.users.slice(0, CLUSTER.idleSockets).map((u) => ({ token: u.token }));
      const idleRes = [await connectAll(clients, clA.info.url as string, idle.filter((_, i) => i % 2 === 0)), await connectAll(clients, clB.info.url as string, idle.filter((_, i) => i % 2 === 1))];
      const idleOk = idleRes.reduce((a, r) => a + r.ok, 0);
      const withIdle = await settledSubs(cl, pair);
      log(`cluster: subscriptions with ${idleOk} sockets in no chat (${idleRes.map((r) => r.failed).join("+")} failed): ${subsText(withIdle)}`);
      await closeAll(clients, pair);
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
      await closeAll(clients, pair);
      const afterAll = await settledSubs(cl, pair, (s) => s.total === base.total, 8_000);
      log(`cluster: subscriptions after every socket left: ${subsText(afterAll)}`);
      details.subscriptions = { base, idle: { sockets: idleOk, subs: withIdle }, chats: { sockets: chatOk, pairs, subs: withChats, ioredisChannelLists: kept }, afterAll };
      const perIdle = (withIdle.total - base.total) / Math.max(1, idleOk);
      row("cluster.ssub-idle", {
        figure: `Redis Cluster: SSUBSCRIBEs per connected socket that joins no chat (${idleOk} sockets over 2 gateways)`,
        ours: perIdle,
        baseline: null,
        unit: "",
        ratio: null,
        valid: idleOk === CLUSTER.idleSockets,
        note: `subscriptions ${base.total} → ${withIdle.total} (the adapter's 2 namespace channels per gateway: ${Object.values(base.perGateway).join(" + ")})`,
      });
      const perPair = (withChats.total - base.total) / Math.max(1, pairs);
      row("cluster.ssub-chat", {
        figure: `Redis Cluster: sharded subscriptions per chat per gateway (${chatOk} sockets in ${CLUSTER.chats} chats, ${CLUSTER.chatSockets / pairs} sockets per chat on each of 2 gateways)`,
        ours: perPair,
        baseline: null,
        unit: "",
        ratio: null,
        valid: chatOk === CLUSTER.chatSockets,
        note:
          `subscriptions ${base.total} → ${withChats.total} for ${pairs} chat × gateway pairs; ${withChats.chatChannels} chat channels on the cluster, Σ SHARDNUMSUB ${withChats.numsub}; ` +
          `after every socket left: ${afterAll.total}${afterAll.unattributed ? `, ${afterAll.unattributed} unattributed` : ""}`,
      });

      // 3. Handshakes: a gateway on the cluster vs one on one Redis (same method as the handshake phase).
      const hsItems = hs.users.map((u, i) => ({ token: u.token, chat: hs.chatOf(i) }));
      const hr = await handshakeRounds(ctx, "cluster handshakes", [["one Redis", oneA], ["Redis Cluster", clA]], hsItems, { "one Redis": oneRedisCpu, "Redis Cluster": clusterRedisCpu });
      details.handshakes = hr;
      const hc = bestRate(hr["Redis Cluster"]!);
      const h1 = bestRate(hr["one Redis"]!);
      const suspect = [...hr["Redis Cluster"]!, ...hr["one Redis"]!].filter((x) => disturbed(x.cpu)).length;
      const othersNote = (xs: HandshakeRound[]) => xs.map((x) => (x.cpu ? x.cpu.others.toFixed(1) : "?")).join("/");
      row("cluster.handshake-rate", {
        figure: `handshakes/s, gateway on a 3-master Redis Cluster vs on one redis-server (${HANDSHAKE.round} connections each in one of ${CLUSTER.chats} chats, ${CLIENTS * PER_CLIENT_CONCURRENCY} in flight, best of ${HANDSHAKE.rounds})`,
        ours: hc,
        baseline: h1,
        unit: "/s",
        ratio: hc / h1,
        note: `other processes' CPU-s per round: cluster ${othersNote(hr["Redis Cluster"]!)}, one Redis ${othersNote(hr["one Redis"]!)}${suspect ? `; ${suspect} rounds disturbed` : ""}`,
      });
      const cc = medianRound(hr["Redis Cluster"]!.map((x) => x.cpuUsPerHandshake));
      const c1 = medianRound(hr["one Redis"]!.map((x) => x.cpuUsPerHandshake));
      const rc = medianRound(hr["Redis Cluster"]!.map((x) => x.redisUsPerHandshake ?? NaN));
      const r1 = medianRound(hr["one Redis"]!.map((x) => x.redisUsPerHandshake ?? NaN));
      row("cluster.handshake-cpu", {
        figure: "gateway CPU per handshake, Redis Cluster vs one redis-server (median round)",
        ours: cc,
        baseline: c1,
        unit: "µs",
        ratio: cc / c1,
        note: `Redis CPU per handshake (all nodes, idle rate left out, median round): ${rc.toFixed(0)} µs vs ${r1.toFixed(0)} µs`,
      });

      // 1a. Cross-gateway delivery latency, as in the delivery phase: a room of 100, half on each gateway, 20 msg/s.
      const latency: Record<string, DeliveryResult & { cpu: CpuUse | null }> = {};
      for (const [name, a, b, room] of [
        ["one Redis", oneA, oneB, roomOne],
        ["Redis Cluster", clA, clB, roomCl],
      ] as const) {
        const m0 = cpuSnapshot();
        const res = await clients[0]!.call<DeliveryResult>("delivery", { a: a.info.url, b: b.info.url, chatId: room.chatIds[0], tokens: room.users.map((u) => u.token), ...DELIVERY }, 120_000);
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
      const stated = deliveryLoad("half on each of 2 gateways");
      row("cluster.delivery-p50", { figure: `cross-gateway delivery p50, Redis Cluster vs one redis-server (${stated})`, ours: lc.cross.p50, baseline: l1.cross.p50, unit: "ms", ratio: lc.cross.p50 / l1.cross.p50 });
      row("cluster.delivery-p99", {
        figure: `cross-gateway delivery p99, Redis Cluster vs one redis-server (${stated})`,
        ours: lc.cross.p99,
        baseline: l1.cross.p99,
        unit: "ms",
        ratio: lc.cross.p99 / l1.cross.p99,
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
      row("cluster.sat-messages", {
        figure: `messages/s at saturation across 2 gateways, Redis Cluster vs one redis-server (room of ${CLUSTER.room}, half on each gateway; highest step sustained)`,
        ours: tCl?.messagesPerSecond ?? null,
        baseline: tOne?.messagesPerSecond ?? null,
        unit: "/s",
        ratio: tCl && tOne ? tCl.messagesPerSecond / tOne.messagesPerSecond : null,
        note: satNote,
      });
      row("cluster.sat-deliveries", {
        figure: "deliveries/s at that step (Redis Cluster vs one redis-server)",
        ours: tCl?.deliveriesPerSecond ?? null,
        baseline: tOne?.deliveriesPerSecond ?? null,
        unit: "/s",
        ratio: tCl && tOne ? tCl.deliveriesPerSecond / tOne.deliveriesPerSecond : null,
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
      await closeAll(clients, []).catch(() => undefined);
      await cl.stop();
      release();
      const dir = ctx.options.logDir;
      if (dir) for (const g of gws) log(`cluster: ${g.name} log: ${logSummary(join(dir, `${g.name}.log`))}`);
      log(`cluster: Redis Cluster stopped; phase took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  },
};

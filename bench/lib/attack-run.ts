/**
 * One attack run (the attack phases, phases/attack.ts): a room of 100 stock clients on a gateway is
 * measured (delivery latency), then measured again while one raw socket in another generator, on the
 * same gateway, floods `chat:join {after}` and never reads. What the gateway's memory did, when and
 * by which rule it cut the attacker, and what the room saw meanwhile.
 */
import type { BenchContext } from "./context";
import { cpuSnapshot, cpuText, type CpuUse, cpuUse } from "./cpu-account";
import { type Child, sleep } from "./ipc";
import { diffCounts, type Mem, mem, metricBy, metricSum, MiB, procMem, resetPeak, scrape } from "./probes";
import type { SendWatch } from "./send-watch";
import { seed, seedMessages } from "./setup";
import type { Summary } from "./stats";

/**
 * One attacker (a raw socket in its own generator) floods `chat:join {after}` on a chat of 100 messages of 4000
 * characters and reads nothing, while a room of 100 well-behaved clients on the same gateway is measured as in
 * `delivery` (all on that gateway); the attack window is capped at `windowMs` from the first join sent.
 */
export const ATTACK = {
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

/** client-proc's `deliveryRun` answer. */
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

/** The two attacks: `flood` under gw1's own (default) event budget, `buffer` on a gateway of its own whose budget lets every join run. */
export interface AttackVariant {
  kind: "flood" | "buffer";
  joins: number;
  /** Joins per write (`emitMany`). */
  chunk: number;
  /** Seed prefixes: the attacker's and the room's users must not collide with the other variant's. */
  prefix: string;
}

export type Watched = { connects: number[]; disconnects: { at: number; reason: string; description?: string }[]; sends: SendWatch[]; connected: number };
export type FloodResult = { start: number; floodEnd: number | null; sent: number; closedAt: number | null; stoppedByUsAt: number | null; bytesRead: number; end: number };
export type AttackDelivery = DeliveryRun & { early: Summary; earlyMs: number };

export interface AttackRun {
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
  sends: SendWatch | undefined;
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
export async function attackRun(ctx: BenchContext, gw: Child, v: AttackVariant): Promise<AttackRun> {
  const { clients, database, tokens, log } = ctx;
  if (clients.length < 2) throw new Error("attack: needs two load generators");
  const url = gw.info.url as string;
  // Where its /metrics are: a port of their own in production.
  const metricsUrl = (gw.info.metricsUrl as string | undefined) ?? url;
  const pid = gw.info.pid as number;
  const g = gw.name;
  const limits = (gw.info.limits ?? {}) as AttackRun["limits"];
  const [good, evil] = [clients[0]!, clients[1]!];
  const atk = await seed(database.url, tokens, `${v.prefix}_`, 1, 1);
  const attacker = atk.users[0]!;
  const chatId = atk.chatIds[0]!;
  const { after, ids } = await seedMessages(database.url, chatId, attacker.userId, ATTACK.messages, ATTACK.messageLength);
  const roomSeed = await seed(database.url, tokens, `${v.prefix}room_`, ATTACK.room, 1);
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
    const textBefore = await scrape(metricsUrl);
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
    const textEnd = await scrape(metricsUrl);
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
      textLast = await scrape(metricsUrl);
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
    ctx.details[v.kind === "flood" ? "attack" : "attackBuffer"] = {
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

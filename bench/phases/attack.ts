/**
 * `--only=attack` (both), `--only=attack-flood`, `--only=attack-buffer`: one raw socket floods
 * `chat:join {after}` and reads nothing (lib/attack-run.ts), twice: on gw1 under its default event
 * budget (the flood rule cuts it), and on a gateway of its own (gwb) whose budget lets every join
 * run (the send-buffer bound cuts it). The gateway's RSS, the cut-off, the delivery p99 of a room on
 * the same gateway. They run after the soak with only gw1 (idle during the second) kept running.
 */
import type { BenchContext, Phase } from "../lib/context";
import { ATTACK, type AttackRun, attackRun, type AttackVariant } from "../lib/attack-run";
import { spawnChild } from "../lib/ipc";
import { MiB } from "../lib/probes";

/** 300 catch-ups in one write, each answered with ~256 KiB; 300 × (1 + 10 held) points fit in a burst of 4000. */
const ATTACK_BUFFER = { joins: 300, eventBurst: 4_000 };

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

function p99Row(ctx: BenchContext, id: "attack-flood.p99" | "attack-buffer.p99", r: AttackRun, figure: string): void {
  const { base, during } = r;
  if (!during) {
    ctx.row(id, { figure, ours: null, baseline: base.all.p99, unit: "ms", ratio: null, note: "the measurement during the attack failed" });
    return;
  }
  const expected = during.acked * during.roomSize;
  const timeouts = during.refusedCodes["ack timeout"] ?? 0;
  ctx.row(id, {
    figure,
    ours: during.all.p99,
    baseline: base.all.p99,
    unit: "ms",
    ratio: during.all.p99 / base.all.p99,
    valid: during.deliveries >= expected && timeouts === 0,
    note:
      `p50 ${during.all.p50.toFixed(2)} vs ${base.all.p50.toFixed(2)} ms; messages sent in the first ${ATTACK.earlyMs / 1000} s: p99 ${during.early.p99.toFixed(2)} vs ${base.early.p99.toFixed(2)} ms, ` +
      `max ${during.early.max.toFixed(1)} vs ${base.early.max.toFixed(1)} ms; during: ${during.deliveries}/${during.wanted} deliveries, ${during.acked}/${during.sent} sends acked, ` +
      `refused ${JSON.stringify(during.refusedCodes)}, ${during.disconnected} room sockets dropped; without: ${base.deliveries}/${base.wanted}, refused ${JSON.stringify(base.refusedCodes)}; ` +
      `${r.gwName}'s PostgreSQL pool had up to ${r.poolWaitingMax ?? "?"} queries waiting${r.poolBusyUntilMs === null ? "" : ` (the last seen at +${r.poolBusyUntilMs} ms)`}, ` +
      `its event loop answered a 250 ms poll within ${r.lagMax} ms at worst; other processes on the machine used ` +
      `${r.cpuDuring ? r.cpuDuring.others.toFixed(1) : "?"} CPU-s during, ${r.cpuBase ? r.cpuBase.others.toFixed(1) : "?"} without`,
  });
}

/** The gateway's RSS growth over the attack window (valid only if the gateway lived and the safety cap never stopped the attacker). */
function rssRow(ctx: BenchContext, id: "attack-flood.rss" | "attack-buffer.rss", r: AttackRun, figure: string, note: string): void {
  ctx.row(id, { figure, ours: (r.peakSampled - r.before.rss) / 1e6, baseline: null, unit: "MB", ratio: null, valid: !r.gone && r.safetyAt === undefined, note });
}

const roomLoad = `${ATTACK.room} clients`;
const roomRate = `${ATTACK.senders * ATTACK.perSenderRate} msg/s`;

/** The default budget: the flood rule is meant to cut the attacker long before 1 MiB waits. */
export const attackFloodPhase: Phase = {
  name: "attack-flood",
  also: ["attack"],
  needs: ["gw1", "clients"],
  alone: ["gw1"],
  async run(ctx) {
    const v: AttackVariant = { kind: "flood", joins: ctx.options.attackJoins, chunk: ATTACK.chunk, prefix: "atk" };
    const r = await attackRun(ctx, ctx.server("gw1"), v);
    const budget = `event budget ${r.limits.eventBurst} + ${r.limits.eventsPerSecond}/s`;
    const stopped = r.cutBy === "neither rule" ? "not stopped by either rule" : `stopped by ${r.cutBy}`;
    rssRow(ctx, "attack-flood.rss", r, `gateway RSS growth while one socket floods ${v.joins} chat:join {after} and reads nothing (${budget}: ${stopped})`, `${rssNote(r, v.joins)}; ${rules(r)}`);
    const cutMs = r.tcpCutMs;
    ctx.row("attack-flood.cut", {
      figure: `flood cut-off (${budget}): time from flood start to disconnect, by ${r.cutBy}`,
      ours: cutMs,
      baseline: null,
      unit: "ms",
      ratio: null,
      valid: r.cutBy !== "neither rule",
      note:
        `TCP ${cutMs === null ? `still open after ${ATTACK.windowMs / 1000} s` : `closed by ${r.gwName} at +${cutMs} ms`} (seen at the attacker's next ${ATTACK.probeMs} ms probe); Socket.IO ` +
        `${r.sioCut ? `disconnect at +${r.sioCutMs} ms (${r.sioCut.reason})` : "socket still connected"}; ${r.gwName} sockets ${r.before.sockets} → ${r.socketsAtEnd}; ${rules(r)}; ` +
        `the attacker read ${r.fl?.bytesRead ?? "?"} bytes; ${r.sends ? `${r.gwName} made ${MiB(r.sends.bytes)} for it, at most ${MiB(r.sends.maxWaiting)} waiting in the gateway` : "no send figures"}`,
    });
    p99Row(ctx, "attack-flood.p99", r, `delivery p99 for ${roomLoad} during the flood vs without (one gateway, the attacker's, ${roomRate})`);
  },
};

/**
 * The send-buffer bound itself: a gateway of its own whose event budget (4000) lets all 300 catch-ups
 * run, so that only the bound can stop a socket that reads none of their ~256 KiB answers.
 */
export const attackBufferPhase: Phase = {
  name: "attack-buffer",
  also: ["attack"],
  needs: ["clients"],
  alone: ["gw1"],
  async run(ctx) {
    const gwb = await spawnChild("gwb", ctx.serverFile, {
      env: { ...ctx.env, BENCH_MODE: "ours", SOCKET_EVENT_BURST: String(ATTACK_BUFFER.eventBurst) },
      nodeFlags: ["--expose-gc"],
    });
    try {
      const v: AttackVariant = { kind: "buffer", joins: ATTACK_BUFFER.joins, chunk: ATTACK_BUFFER.joins, prefix: "atkb" };
      const r = await attackRun(ctx, gwb, v);
      const s = r.sends;
      const max = r.limits.maxBufferedBytes ?? 2 ** 20;
      const answerKiB = s ? `the largest answer ${(s.largest / 1024).toFixed(1)} KiB` : "answer size unknown";
      rssRow(
        ctx,
        "attack-buffer.rss",
        r,
        `gateway RSS growth while one socket asks for ${v.joins} × 256 KiB and reads nothing (event budget raised to ${r.limits.eventBurst}, so the send-buffer bound stops it)`,
        `${rssNote(r, v.joins)}; ${answerKiB}; ${rules(r)}, so stopped by ${r.cutBy}`,
      );
      const cutAt = r.fl?.closedAt ?? null;
      const sinceCross = cutAt !== null && s?.crossedAt != null ? cutAt - s.crossedAt : null;
      const crossMs = s?.crossedAt != null ? s.crossedAt - r.start : null;
      ctx.row("attack-buffer.cut", {
        figure: "send-buffer cut: time from flood start to disconnect",
        ours: r.tcpCutMs,
        baseline: null,
        unit: "ms",
        ratio: null,
        facts: { bound: max, sinceCross },
        valid: r.slowDelta === 1 && r.floodDelta === 0,
        note:
          `${max} bytes first waiting in ${r.gwName} at ${crossMs === null ? "never" : `+${crossMs} ms`}` +
          `${s && s.crossedAt !== null ? `, after ${s.crossedPackets} packets (${MiB(s.crossedBytes ?? 0)} made for the attacker, ${MiB(s.kernelAtCross ?? 0)} of it already taken by the kernel's socket buffers)` : ""}; ` +
          `Socket.IO disconnect at ${r.sioCut ? `+${r.sioCutMs} ms (${r.sioCut.reason})` : "never (still connected)"}; TCP ${r.tcpCutMs === null ? `still open after ${ATTACK.windowMs / 1000} s` : `closed at +${r.tcpCutMs} ms (seen at the attacker's next ${ATTACK.probeMs} ms probe)`}` +
          `${sinceCross === null ? "" : `, ${sinceCross} ms after the crossing`}; ${rules(r)}; the attacker read ${r.fl?.bytesRead ?? "?"} bytes (it reads nothing after the handshake); ` +
          `${s ? `${r.gwName} made ${s.packets} packets, ${MiB(s.bytes)} for it in all, ${answerKiB}; the other ${r.joinsTotal - s.packets} catch-ups ran after the socket was dropped (answered to nobody)` : "no send figures"}; ` +
          `${r.gwName} sockets ${r.before.sockets} → ${r.socketsAtEnd}`,
      });
      p99Row(ctx, "attack-buffer.p99", r, `delivery p99 for ${roomLoad} during the send-buffer attack vs without (one gateway, the attacker's: ${r.gwName}, ${roomRate})`);
    } finally {
      await gwb.stop();
    }
  },
};

/**
 * `--only=memory`: memory per idle authenticated connection, ours (gw1) against the bare server,
 * stepping each up to the 20,000-descriptor limit and holding it 30 s (heartbeats: the server's CPU
 * per heartbeat over the hold); each step's handshakes/s, the server's CPU per handshake and whose
 * cores were busy. `--max=N`: steps to N only.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { BenchContext, Phase } from "../lib/context";
import { cpuSnapshot, cpuUse } from "../lib/cpu-account";
import { type Child, sleep } from "../lib/ipc";
import { closeAll, connectAll, LOAD } from "../lib/load";
import { cpuUsOf, mem, serverCpuUs } from "../lib/probes";
import { oursPingIntervalS } from "../lib/options";

const FD_LIMIT = 20_000;
const CAPACITY_STEPS = [5_000, 10_000, 15_000, 19_000];
/** Longer than pingInterval (25 s): every held socket answers at least one heartbeat. */
const HOLD_MS = 30_000;
/** Socket.IO's ping interval, the bare server's. */
const BARE_PING_S = 25;

interface Step {
  total: number;
  rate: number;
  failed: number;
  errors: Record<string, number>;
  /** Connects refused or failed, then tried again after the client's back-off (by message). */
  retried: Record<string, number>;
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
/** `pingS`: the server's ping interval (s), which prices the hold's CPU per heartbeat. */
async function capacity(ctx: BenchContext, name: string, server: Child, hold: boolean, pingS: number) {
  const { clients, load, log } = ctx;
  const max = ctx.options.max;
  await closeAll(clients, [server]);
  const base = await mem(server);
  log(`${name}: baseline rss ${(base.rss / 2 ** 20).toFixed(1)} MiB, heap ${(base.heapUsed / 2 ** 20).toFixed(1)} MiB, ${base.fds} fds`);
  const snapshot = async (label: string) => {
    if (!ctx.options.heapSnapshots) return;
    mkdirSync(ctx.options.heapSnapshots, { recursive: true });
    const { file } = await server.call<{ file: string }>("heapSnapshot", { file: resolve(ctx.options.heapSnapshots, `${name}-${label}.heapsnapshot`) }, 300_000);
    log(`${name}: heap snapshot ${file}`);
  };
  await snapshot("base");
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
    if (target > load.length || target > max) break;
    // Who did the work meanwhile: with presence on, every join is announced to the chat's others,
    // and the generators, which hold those sockets on the same machine, read each announcement.
    const cpuOf = () => Promise.all([server, ...clients].map(async (c) => cpuUsOf(await c.call<{ cpu: { user: number; system: number } }>("cpu"))));
    const [before, machineBefore] = [await cpuOf(), cpuSnapshot()];
    // A connect refused (a gateway whose loop lags past HANDSHAKE_MAX_LAG_MS refuses new transports
    // for a moment) is tried again after the client's back-off, as a stock client would: 3 times.
    const res = await connectAll(clients, server.info.url as string, load.slice(total, target), true, 3);
    // A second more: the step's last presence announcements, held back up to a second, are its work too.
    await sleep(1_000);
    const [after, machineAfter] = [await cpuOf(), cpuSnapshot()];
    const used = after.map((a, i) => a - before[i]!);
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
      retried: res.retriedErrors,
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
      `${name}: ${m.sockets} held (${res.rate.toFixed(0)}/s, ${res.failed} failed ${JSON.stringify(res.errors)}, tried again ${JSON.stringify(res.retriedErrors)}), ` +
        `${(step.rssPerConn / 1024).toFixed(2)} KiB rss and ${(step.heapPerConn / 1024).toFixed(2)} KiB heap per connection, ${m.fds} fds` +
        (res.ok >= 1_000
          ? `; ${step.cpuUsPerHandshake.toFixed(0)} µs server CPU per handshake, cores: server ${step.serverCores.toFixed(2)}, generators ${step.generatorCores.toFixed(2)}, machine ${step.machineCores.toFixed(2)}`
          : ""),
    );
    if (res.failed > 0 || m.sockets !== total) break;
  }
  await snapshot(String(total));
  let holdResult: Record<string, unknown> | undefined;
  if (hold && max === Infinity) {
    log(`${name}: holding ${total} for ${HOLD_MS / 1000} s (heartbeats every ${pingS} s)`);
    // The server's CPU over the hold is its idle connections' keep-alive: a ping out and a pong in per
    // connection every `pingS` (the capacity model's cost per heartbeat), and its own timers.
    const cpu0 = await serverCpuUs(server);
    await sleep(HOLD_MS);
    const heldCpuUs = (await serverCpuUs(server)) - cpu0;
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
      // Where the RSS beyond the used heap lives: V8's committed pages (heapTotal), buffers outside the heap (external).
      heapTotalPerConn: (m.heapTotal - base.heapTotal) / Math.max(1, m.sockets),
      externalPerConn: (m.external - base.external) / Math.max(1, m.sockets),
      cpuUsPerHeartbeat: heldCpuUs / Math.max(1, (m.sockets * HOLD_MS) / 1000 / pingS),
    };
    log(`${name}: after the hold ${JSON.stringify(holdResult)}`);
  }
  await closeAll(clients, [server]);
  return { base, steps, hold: holdResult };
}

/** RSS and heap per connection at one step of each: two rows. */
function perConnectionRows(ctx: BenchContext, ids: ["memory.rss-5000", "memory.heap-5000"] | ["memory.rss-top", "memory.heap-top"], at: string, o: Step, b: Step) {
  ctx.row(ids[0], { figure: `RSS per idle connection at ${at}`, ours: o.rssPerConn / 1024, baseline: b.rssPerConn / 1024, unit: "KiB", ratio: o.rssPerConn / b.rssPerConn });
  ctx.row(ids[1], { figure: `heap per idle connection at ${at}`, ours: o.heapPerConn / 1024, baseline: b.heapPerConn / 1024, unit: "KiB", ratio: o.heapPerConn / b.heapPerConn });
}

export const memoryPhase: Phase = {
  name: "memory",
  needs: ["gw1", "bare", "clients", "load"],
  async run(ctx) {
    const oursPingS = oursPingIntervalS();
    const ours = await capacity(ctx, "ours", ctx.server("gw1"), true, oursPingS);
    const base = await capacity(ctx, "bare", ctx.server("bare"), true, BARE_PING_S);
    // chats: the load's users are spread over this many chats (each join is announced to its chat's others online).
    ctx.details.capacity = { ours, bare: base, chats: LOAD.chats };
    const at = (steps: Step[], n: number) => steps.find((s) => s.total >= n);
    const o5 = at(ours.steps, 5_000);
    const b5 = at(base.steps, 5_000);
    if (o5 && b5) perConnectionRows(ctx, ["memory.rss-5000", "memory.heap-5000"], `${o5.total}`, o5, b5);
    const oTop = ours.steps.filter((s) => s.failed === 0).at(-1);
    const held = ours.hold && ours.hold.dropped === 0 ? (ours.hold.serverSockets as number) : (oTop?.total ?? 0);
    const bTop = base.steps.filter((s) => s.failed === 0).at(-1);
    ctx.row("memory.held", {
      figure: `idle authenticated connections one gateway holds (fd limit ${FD_LIMIT}, heartbeats on, held ${HOLD_MS / 1000} s)`,
      ours: held,
      baseline: bTop?.total ?? null,
      unit: "",
      ratio: bTop ? held / bTop.total : null,
      note: ours.hold ? `dropped during the hold: ${ours.hold.dropped}` : undefined,
    });
    const [oBeat, bBeat] = [ours.hold?.cpuUsPerHeartbeat as number | undefined, base.hold?.cpuUsPerHeartbeat as number | undefined];
    if (oBeat !== undefined && bBeat !== undefined) {
      ctx.row("memory.heartbeat", {
        figure: `server CPU per heartbeat (a ping out, a pong in), idle connections held ${HOLD_MS / 1000} s at the top step`,
        ours: oBeat,
        baseline: bBeat,
        unit: "µs",
        ratio: oBeat / bBeat,
        note: `the server's whole CPU over the hold per ping interval (${oursPingS} vs ${BARE_PING_S} s) per connection held (${ours.hold!.serverSockets} vs ${base.hold!.serverSockets}): its own timers included; the capacity model's cost of keeping a connection`,
      });
    }
    // Memory and handshake rate at the largest size both reached.
    const size = Math.min(oTop?.total ?? 0, bTop?.total ?? 0);
    const oS = ours.steps.filter((s) => s.failed === 0 && s.total <= size).at(-1);
    const bS = base.steps.filter((s) => s.failed === 0 && s.total <= size).at(-1);
    if (oS && bS) perConnectionRows(ctx, ["memory.rss-top", "memory.heap-top"], `${oS.total} / ${bS.total}`, oS, bS);
    // The rate at that size: the last full step (15000 → 19000), whose 4000 handshakes average out the heartbeat waves.
    const last = CAPACITY_STEPS.length - 1;
    const oR = ours.steps[last];
    const bR = base.steps[last];
    if (oR && bR && oR.failed === 0 && bR.failed === 0) {
      ctx.row("memory.rate-top", {
        figure: `handshakes/s stepping ${CAPACITY_STEPS[last - 1]}→${CAPACITY_STEPS[last]} connections held`,
        ours: oR.rate,
        baseline: bR.rate,
        unit: "/s",
        ratio: oR.rate / bR.rate,
        note:
          `server CPU per handshake ${oR.cpuUsPerHandshake.toFixed(0)} vs ${bR.cpuUsPerHandshake.toFixed(0)} µs; cores: server ${oR.serverCores.toFixed(2)} vs ${bR.serverCores.toFixed(2)}, ` +
          `generators ${oR.generatorCores.toFixed(2)} vs ${bR.generatorCores.toFixed(2)}, machine ${oR.machineCores.toFixed(2)} vs ${bR.machineCores.toFixed(2)}`,
      });
    }
  },
};

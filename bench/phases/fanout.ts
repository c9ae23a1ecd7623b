/**
 * `--only=fanout` (issue 11 item 2): how many deliveries per second one gateway sustains when each
 * message goes to a room of 10, 100 or 1,000 sockets, against a bare Socket.IO server that
 * broadcasts the same messages through the same adapter (`@socket.io/redis-adapter`, classic, on the
 * bench's redis-server, a channel key of its own: server-proc's BENCH_MODE=bare-chat), so that the
 * gap is what our gateway adds per message and per delivery (auth, storage, limits, bookkeeping).
 * Then the same across 3 gateways of each kind (a room of 100 spread evenly, every socket straight
 * to its gateway, no nginx): the adapter path.
 *
 * Each case opens the room twice (ours, bare; the same users, every socket joined by `chat:join`),
 * and climbs the saturation ladder (lib/saturation.ts) on both sides interleaved step by step; then
 * one step on each side at `latencyAt` (80 %) of our highest sustained rate, the same offered rate
 * on both: the delivery latency there. The gateway CPU per delivery (the server process's user +
 * system CPU over a step and its drain, divided by the deliveries) is compared at equal load: pooled
 * over every step both sides sustained at the same offered rate, the latency step included. The
 * generators' own CPU is reported with every figure (the busiest one's share of a core, and all of
 * them in cores), so that a reader can tell whether the gateway or the generators were the limit;
 * the senders are stock socket.io-client sockets, every other socket a light receiver (see
 * client-proc's satOpen).
 *
 * `results.details.fanout` (read by the capacity model):
 *   config: { rooms, sat (the ladder's settings; each case has its own startRate), latencyAt, latencyStepMs,
 *             generators (load generator processes), env (the limits raised for ours), limits (in effect in ours) }
 *   rooms: { "10" | "100" | "1000": FanoutCase }  one gateway per side
 *   threeGateways: FanoutCase                     a room of 100 over 3 gateways per side
 *   quiet?: { room, rooms, senders, stepMs, rounds, warmMs, rates: { [msg/s]: { ours, bare, bareStore: QuietSide, ratio, ratioToStore } } }
 *             rooms of 20 at fixed rates most chats run at, rotating steps (no ladder), with a third side:
 *             bare-store (bare plus one INSERT per message before its broadcast and ack, server-proc), the
 *             least the contract's ack-after-store costs; ratio is ours/bare, ratioToStore ours/bare-store. QuietSide =
 *             { deliveries, messages, cpuUs, postgresUs (PostgreSQL's CPU over the side's steps), steps: FanoutStep[] }
 *   profile?: { room, rate, stepMs, rounds, ours, bare: { file, deliveries, messages, cpuUs, steps: FanoutStep[] } }
 *             (--profile only: room of 100 at a fixed rate, or FANOUT_PROFILE=<room>:<msg/s>, both gateways profiled over alternating steps)
 * FanoutCase: {
 *   room (sockets), rooms (side by side: 48 of 10, else 1), gateways (per side), senders, startRate (msg/s),
 *   latencyRate: msg/s offered to both sides at the latency step (latencyAt × ours.sustained.offered), or null,
 *   ours, bare: {
 *     sustained: FanoutStep | null    the side's highest step sustained (its capacity)
 *     atLatencyRate: FanoutStep | null  the step at `latencyRate`
 *     ladder: "50✓ 100✓ 200✗ 125✓ …" (offered msg/s, sustained or not), steps: SatStep[] (every step, all fields)
 *   },
 *   equalLoad: { rates: msg/s both sides sustained, ours, bare: gateway CPU µs per delivery pooled over those steps },
 *   ratio: { deliveriesPerSecond: ours/bare sustained, cpuUsPerDelivery: ours/bare of equalLoad }
 * }
 * FanoutStep: { offered, messagesPerSecond, deliveriesPerSecond, deliveriesPerSecondPerGateway[], gatewayCpuUsPerDelivery,
 *   gatewayCpuUsPerMessage, gatewayCores[] (CPU-s per second of each gateway), redisCpuUsPerMessage,
 *   generatorBusiestCore (the busiest generator's CPU-s per second), generatorCores (all generators), machineCores (busy),
 *   othersCores (other processes on the shared machine),
 *   delivery, ack: { n, p50, p99, max, mean } in ms, sustained (bool), why (the failure's reasons) }
 */
import { join } from "node:path";
import type { BenchContext, Phase } from "../lib/context";
import { type Child, sleep, spawnChild } from "../lib/ipc";
import { RAISED_LIMITS } from "../lib/load";
import type { BenchOptions } from "../lib/options";
import { redisCpuSeconds } from "../lib/redis-cluster";
import {
  firstFailText,
  ladderRule,
  ladderText,
  newSide,
  type SatConfig,
  type SatSide,
  type SatStep,
  satLadder,
  satStep,
  stepText,
  sustained,
} from "../lib/saturation";
import { seed } from "../lib/setup";

/** The quiet rates (msg/s), each a row of its own (bench/targets.ts). */
const QUIET_RATES = [10, 100, 1_000] as const;

/** The fan-out's settings; `rooms`, `three`, `smallRoomSockets` and `profile` from the FANOUT_* variables (lib/options.ts). */
const fanoutConfig = (o: BenchOptions["fanout"]) => ({
  /** Ours only: the posting limit and the event budget raised (the ladders send thousands of messages per second from a few users). */
  env: RAISED_LIMITS,
  /** Room sizes on one gateway (FANOUT_ROOMS=100 for a quick look at one). */
  rooms: o.rooms ?? [10, 100, 1_000],
  /** The 3-gateway case (FANOUT_THREE=0 leaves it out). */
  three: o.three,
  threeRoom: 100,
  /** Rooms smaller than `sat.senders` are opened side by side until they hold this many sockets, all senders (chatsFor; FANOUT_SMALL_SOCKETS). */
  smallRoomSockets: o.smallRoomSockets,
  /** Each case's ladder starts at this many deliveries per second (msg/s = this / room). */
  startDeliveries: 8_000,
  sat: {
    senders: 40,
    stepMs: 2_000,
    factor: 1.25,
    coarseFactor: 2,
    bisect: 1.06,
    maxSteps: 8,
    failsToStop: 2,
    tailMs: 500,
    lagMs: 150,
    ackWaitMs: 1_000,
    drainMs: 5_000,
    restMs: 300,
    restAfterFailMs: 1_500,
    warmupMs: 1_000,
  } satisfies Omit<SatConfig, "startRate">,
  latencyAt: 0.8,
  latencyStepMs: 3_000,
  /** Wall time a case's ladder may take (no step starts after it). */
  caseBudgetMs: 45_000,
  /**
   * `--profile`: a room of 100 at this fixed rate (FANOUT_PROFILE=<room>:<msg/s> for another, e.g. 10:3000: rooms
   * of 10 side by side as in their case), `rounds` steps per side alternating, a V8 profile of each gateway meanwhile.
   */
  profile: { room: o.profileRoom ?? 100, rate: o.profileRate ?? 100, stepMs: 2_000, rounds: 4 },
  /**
   * Quiet chats: the ladder measures near saturation, where the store's batching pays; most chats run
   * far below it. Rooms of 20 side by side (24 of them), 48 senders, each rate held for `rounds` steps
   * per side, alternating; a step's CPU includes whatever the gateway spends between messages.
   * First each side is warmed for `warmMs` at the top rate, not counted: at 100 msg/s V8 was still
   * compiling both sides' hot paths, ours' (the larger) for longer, so the steps measured the JIT's
   * warm-up more than a gateway that has run for a while (docs/benchmark-notes.md, "Quiet chats").
   */
  quiet: o.quiet ? { room: 20, rates: QUIET_RATES, senders: 48, stepMs: 4_000, rounds: 2, warmMs: 5_000 } : null,
});
type FanoutConfig = ReturnType<typeof fanoutConfig>;

/** The bench's context and this run's settings; with --profile (`profileDir`) only the profiled case runs. */
type FanoutContext = BenchContext & { F: FanoutConfig };

type Room = { users: { token: string }[]; chatIds: string[]; chatOf: (i: number) => string | undefined };

/**
 * Chats of a case's size opened side by side: rooms smaller than `sat.senders` until they hold
 * `smallRoomSockets` sockets, every one a sender (48 rooms of 10, 480 senders); one room of 100 or
 * 1,000 (40 senders). Messages into rooms of 10 come from many small chats (the capacity model's
 * 100k msg/s from a million sockets), each sender near the rate a production socket may keep up
 * (SOCKET_EVENT_RATE, 10 events/s): 480 senders offer ~10 msg/s each at 5,000 msg/s. With 80
 * senders (the first version) each offered 60-80 msg/s at the ceiling, and ours met its bound of 4
 * events in flight per socket first (4 / ~60 ms of latency on a saturated 2-core machine is ~70
 * msg/s per socket: the sends queued), a per-client bound no production socket reaches; bare has
 * none, and with few sockets it also writes many messages per socket per turn (fewer system
 * calls). Same rooms both sides; every message still goes to a room of `size`.
 */
const chatsFor = (F: FanoutConfig, size: number) => (size < F.sat.senders ? Math.max(1, Math.floor(F.smallRoomSockets / size)) : 1);
/** Small rooms side by side: every socket sends; one room: at most `sat.senders` of its sockets. */
const sendersFor = (F: FanoutConfig, room: Room, size: number) => (room.chatIds.length > 1 ? size * room.chatIds.length : Math.min(F.sat.senders, size));

interface FanoutStep {
  offered: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  deliveriesPerSecondPerGateway: number[];
  gatewayCpuUsPerDelivery: number;
  gatewayCpuUsPerMessage: number;
  gatewayCores: number[];
  redisCpuUsPerMessage: number;
  generatorBusiestCore: number;
  generatorCores: number;
  machineCores: number | null;
  /** Other processes on the machine (not this bench, not PostgreSQL) meanwhile, in cores: the machine is shared. */
  othersCores: number | null;
  delivery: SatStep["delivery"];
  ack: SatStep["ack"];
  sustained: boolean;
  why: string;
}

const brief = (st: SatStep | undefined): FanoutStep | null =>
  st
    ? {
        offered: st.offered,
        messagesPerSecond: st.messagesPerSecond,
        deliveriesPerSecond: st.deliveriesPerSecond,
        deliveriesPerSecondPerGateway: st.deliveriesByGateway.map((d) => d / st.seconds),
        gatewayCpuUsPerDelivery: st.gatewayCpuUsPerDelivery,
        gatewayCpuUsPerMessage: st.gatewayCpuUsPerMessage,
        gatewayCores: st.gatewayCpuUs.map((us) => us / 1e6 / st.measuredSeconds),
        redisCpuUsPerMessage: st.redisCpuUsPerMessage,
        generatorBusiestCore: st.generatorBusiestCore,
        generatorCores: st.generatorCpuSeconds.reduce((a, b) => a + b, 0) / st.measuredSeconds,
        machineCores: st.cpu ? st.cpu.machine / st.cpu.seconds : null,
        othersCores: st.cpu ? st.cpu.others / st.cpu.seconds : null,
        delivery: st.delivery,
        ack: st.ack,
        sustained: st.ok,
        why: st.why,
      }
    : null;

interface CaseSide {
  sustained: FanoutStep | null;
  atLatencyRate: FanoutStep | null;
  ladder: string;
  steps: SatStep[];
}
interface FanoutCase {
  room: number;
  /** Rooms of `room` sockets side by side (each message goes to one of them). */
  rooms: number;
  gateways: number;
  senders: number;
  startRate: number;
  latencyRate: number | null;
  ours: CaseSide;
  bare: CaseSide;
  /**
   * Gateway CPU per delivery at equal load: (Σ gateway CPU) / (Σ deliveries) over every step that both
   * sides sustained at the same offered rate (`rates`; the latency step included), so that a single
   * step's noise weighs less.
   */
  equalLoad: { rates: number[]; ours: number | null; bare: number | null };
  ratio: { deliveriesPerSecond: number | null; cpuUsPerDelivery: number | null };
}

/** Every sustained step of `x` and of `y` at an offered rate both sustained, pooled: CPU per delivery of each. */
function equalLoad(x: SatStep[], y: SatStep[]): FanoutCase["equalLoad"] {
  const okRates = (steps: SatStep[]) => new Set(steps.filter((s) => s.ok).map((s) => s.offered));
  const [rx, ry] = [okRates(x), okRates(y)];
  const rates = [...rx].filter((r) => ry.has(r)).sort((a, b) => a - b);
  const pooled = (steps: SatStep[]) => {
    const at = steps.filter((s) => s.ok && rates.includes(s.offered));
    const deliveries = at.reduce((n, s) => n + s.deliveries, 0);
    return deliveries > 0 ? at.reduce((n, s) => n + s.gatewayCpuUs.reduce((a, b) => a + b, 0), 0) / deliveries : null;
  };
  return { rates, ours: pooled(x), bare: pooled(y) };
}

/** Opens the room on both sides: socket i on generator i % n and gateway i % (gateways); each generator's first sockets (its senders) stock, the rest light. */
async function openRooms(ctx: FanoutContext, sides: SatSide[], room: Room, S: SatConfig): Promise<void> {
  const { clients } = ctx;
  const stock = Math.ceil(S.senders / clients.length);
  for (const side of sides) {
    const items = clients.map(() => [] as { token: string; url: string; gw: number; chatId: string }[]);
    room.users.slice(0, side.room * room.chatIds.length).forEach((u, i) => {
      const gw = i % side.gateways.length;
      items[i % clients.length]!.push({ token: u.token, url: side.gateways[gw]!.info.url as string, gw, chatId: room.chatOf(i)! });
    });
    const t = Date.now();
    await Promise.all(clients.map((c, k) => c.call("satOpen", { room: side.key, chatId: room.chatIds[0], items: items[k], join: "event", stock }, 120_000)));
    ctx.log(`fanout: ${side.label}: ${room.chatIds.length} × ${side.room} sockets joined in ${((Date.now() - t) / 1000).toFixed(1)} s (${S.senders} senders)`);
  }
}

/** One case: both rooms open, the ladders interleaved, then the latency step at `latencyAt` of our sustained rate on both. */
async function runCase(ctx: FanoutContext, name: string, room: Room, size: number, ours: Child[], bare: Child[], startRate: number): Promise<FanoutCase> {
  const { clients, log } = ctx;
  const S: SatConfig = { ...ctx.F.sat, senders: sendersFor(ctx.F, room, size), startRate };
  const redisCpu = () => redisCpuSeconds(ctx.redis.port);
  const o = newSide({ key: `o${name}`, label: `${name} ours`, gateways: ours, room: size, redisCpu }, startRate);
  const b = newSide({ key: `b${name}`, label: `${name} bare`, gateways: bare, room: size, redisCpu }, startRate);
  const at: Record<string, SatStep> = {};
  let latencyRate: number | null = null;
  try {
    await openRooms(ctx, [o, b], room, S);
    await satLadder({ sides: [o, b], clients, S, log: (m) => log(`fanout: ${m}`), warmupRate: () => Math.max(1, Math.round(startRate / 2)), deadline: Date.now() + ctx.F.caseBudgetMs });
    const top = sustained(o);
    if (top) {
      latencyRate = Math.max(1, Math.round(top.offered * ctx.F.latencyAt));
      const L = { ...S, stepMs: ctx.F.latencyStepMs };
      for (const side of [o, b]) {
        const st = await satStep(side, clients, L, latencyRate, `${side.key}L`);
        at[side.key] = st;
        log(`fanout: ${side.label} at ${ctx.F.latencyAt * 100} % of our sustained rate: ${stepText(side, st, L)}`);
        await sleep(500);
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.call("satClose", {}, 30_000).catch(() => undefined)));
  }
  const side = (x: SatSide): CaseSide => ({ sustained: brief(sustained(x)), atLatencyRate: brief(at[x.key]), ladder: ladderText(x), steps: x.steps });
  const steps = (x: SatSide) => [...x.steps, ...(at[x.key] ? [at[x.key]!] : [])];
  const eq = equalLoad(steps(o), steps(b));
  const c: FanoutCase = { room: size, rooms: room.chatIds.length, gateways: ours.length, senders: S.senders, startRate, latencyRate, ours: side(o), bare: side(b), equalLoad: eq, ratio: { deliveriesPerSecond: null, cpuUsPerDelivery: null } };
  const [os, bs] = [c.ours.sustained, c.bare.sustained];
  if (os && bs) c.ratio.deliveriesPerSecond = os.deliveriesPerSecond / bs.deliveriesPerSecond;
  if (eq.ours !== null && eq.bare !== null) c.ratio.cpuUsPerDelivery = eq.ours / eq.bare;
  addRows(ctx, c, o, b, S);
  return c;
}

const f0 = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? "?" : x.toFixed(0));
const f1 = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? "?" : x.toFixed(1));
const f2 = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? "?" : x.toFixed(2));
const gens = (s: FanoutStep | null) => (s ? `${f0(s.generatorBusiestCore * 100)} % / ${f2(s.generatorCores)} cores` : "?");
const cores = (s: FanoutStep | null) => (s ? s.gatewayCores.map(f2).join("+") : "?");

function addRows(ctx: FanoutContext, c: FanoutCase, o: SatSide, b: SatSide, S: SatConfig): void {
  const where = c.gateways === 1 ? `one gateway, ${c.rooms > 1 ? `${c.rooms} rooms` : "room"} of ${c.room}` : `${c.gateways} gateways, room of ${c.room} spread evenly (sockets straight to each gateway)`;
  const [os, bs, ol, bl] = [c.ours.sustained, c.bare.sustained, c.ours.atLatencyRate, c.bare.atLatencyRate];
  const perGw = (s: FanoutStep | null) => (s && c.gateways > 1 ? `; per gateway ${s.deliveriesPerSecondPerGateway.map(f0).join(" + ")} deliveries/s` : "");
  ctx.row("fanout.rate", {
    figure: `fan-out: deliveries/s sustained, ${where} (highest step sustained, ${c.senders} senders)`,
    ours: os?.deliveriesPerSecond ?? null,
    baseline: bs?.deliveriesPerSecond ?? null,
    unit: "/s",
    ratio: c.ratio.deliveriesPerSecond,
    note:
      `${f0(os?.messagesPerSecond)} vs ${f0(bs?.messagesPerSecond)} msg/s${perGw(os)}${perGw(bs) ? ` (bare${perGw(bs).slice(1)})` : ""}; ` +
      `at those steps gateway cores ${cores(os)} vs ${cores(bs)}, generators (busiest % of a core / all) ${gens(os)} vs ${gens(bs)}, machine busy ${f2(os?.machineCores)} vs ${f2(bs?.machineCores)} cores (other processes ${f2(os?.othersCores)} vs ${f2(bs?.othersCores)}); ` +
      `ours: ${ladderText(o)}, ${firstFailText(o)}; bare: ${ladderText(b)}, ${firstFailText(b)}; ${ladderRule(S)}`,
  });
  const rate = c.latencyRate === null ? "no sustained step" : `both at ${c.latencyRate} msg/s = ${ctx.F.latencyAt * 100} % of our sustained rate`;
  const eq = c.equalLoad;
  ctx.row("fanout.cpu", {
    figure: `fan-out: gateway CPU per delivery, ${where} (pooled over the steps both sustained at equal offered rates: ${eq.rates.join(", ") || "none"} msg/s)`,
    ours: eq.ours,
    baseline: eq.bare,
    unit: "µs",
    ratio: c.ratio.cpuUsPerDelivery,
    note:
      `${f2(eq.ours)} vs ${f2(eq.bare)} µs; ${rate}: ${f2(ol?.gatewayCpuUsPerDelivery)} vs ${f2(bl?.gatewayCpuUsPerDelivery)} µs per delivery, ${f0(ol?.gatewayCpuUsPerMessage)} vs ${f0(bl?.gatewayCpuUsPerMessage)} µs per message, ` +
      `Redis ${f0(ol?.redisCpuUsPerMessage)} vs ${f0(bl?.redisCpuUsPerMessage)} µs per message; at each one's highest sustained step ${f2(os?.gatewayCpuUsPerDelivery)} vs ${f2(bs?.gatewayCpuUsPerDelivery)} µs per delivery`,
  });
  ctx.row("fanout.p99", {
    figure: `fan-out: delivery p99, ${where} (${rate}${ol ? `, ${f0(ol.deliveriesPerSecond)} deliveries/s` : ""})`,
    ours: ol?.delivery.p99 ?? null,
    baseline: bl?.delivery.p99 ?? null,
    unit: "ms",
    ratio: ol && bl ? ol.delivery.p99 / bl.delivery.p99 : null,
    note:
      `p50 ${f1(ol?.delivery.p50)} vs ${f1(bl?.delivery.p50)} ms; ${ol?.sustained ? "sustained" : `ours NOT sustained (${ol?.why ?? "not run"})`}, ${bl?.sustained ? "sustained" : `bare NOT sustained (${bl?.why ?? "not run"})`}; ` +
      `generators ${gens(ol)} vs ${gens(bl)}, other processes ${f2(ol?.othersCores)} vs ${f2(bl?.othersCores)} cores`,
  });
}

/**
 * `--profile`: room of 100 at a fixed rate; both gateways profiled at once over `rounds` steps that
 * alternate ours and bare (the machine's noise spread over both alike); each profile is mostly idle
 * while the other side runs, so compare busy time per delivery: profile-top --per=<deliveries>.
 */
async function profileCase(ctx: FanoutContext, dir: string, room: Room, ours: Child, bare: Child): Promise<void> {
  const P = ctx.F.profile;
  const S: SatConfig = { ...ctx.F.sat, senders: sendersFor(ctx.F, room, P.room), startRate: P.rate, stepMs: P.stepMs };
  const redisCpu = () => redisCpuSeconds(ctx.redis.port);
  const sides = [newSide({ key: "op", label: "ours", gateways: [ours], room: P.room, redisCpu }, P.rate), newSide({ key: "bp", label: "bare", gateways: [bare], room: P.room, redisCpu }, P.rate)];
  const out: Record<string, { file: string; deliveries: number; cpuUs: number; messages: number; steps: FanoutStep[] }> = {};
  try {
    await openRooms(ctx, sides, room, S);
    // JIT warm-up, not profiled: 5 s at about 20,000 deliveries/s (or the profiled rate, if higher).
    const warmRate = Math.max(P.rate, Math.floor(20_000 / P.room));
    for (const side of sides) await satStep(side, ctx.clients, { ...S, stepMs: 5_000 }, warmRate, `${side.key}w`);
    await Promise.all(sides.map((x) => x.gateways[0]!.call("profileStart", {})));
    for (const side of sides) out[side.label] = { file: join(dir, `fanout-${side.label}-room${P.room}-${P.rate}.cpuprofile`), deliveries: 0, cpuUs: 0, messages: 0, steps: [] };
    for (let r = 0; r < P.rounds; r += 1) {
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        const st = await satStep(side, ctx.clients, S, P.rate, `${side.key}p${r}`);
        const o = out[side.label]!;
        o.deliveries += st.deliveries;
        o.messages += st.ackedInAll;
        o.cpuUs += st.gatewayCpuUs[0]!;
        o.steps.push(brief(st)!);
        ctx.log(`fanout: profiled ${side.label} round ${r + 1}: ${stepText(side, st, S)}`);
        await sleep(300);
      }
    }
    for (const side of sides) {
      const o = out[side.label]!;
      const res = await side.gateways[0]!.call<{ samples: number }>("profileStop", { file: o.file }, 60_000);
      ctx.log(`fanout: ${side.label}'s profile: ${res.samples} samples, ${o.deliveries} deliveries: npx tsx bench/profile-top.ts ${o.file} 30 --per=${o.deliveries}`);
    }
  } finally {
    await Promise.all(ctx.clients.map((c) => c.call("satClose", {}, 30_000).catch(() => undefined)));
  }
  const [o, b] = [out.ours, out.bare];
  const per = (x: typeof o) => (x ? x.cpuUs / Math.max(1, x.deliveries) : null);
  ctx.row("fanout.profile-cpu", {
    figure: `fan-out under the profiler: gateway CPU per delivery, one gateway, room of ${P.room} at ${P.rate} msg/s (${P.rounds} steps of ${P.stepMs / 1000} s each, alternating)`,
    ours: per(o),
    baseline: per(b),
    unit: "µs",
    ratio: o && b ? per(o)! / per(b)! : null,
    note: `per message ${f0(o && o.cpuUs / Math.max(1, o.messages))} vs ${f0(b && b.cpuUs / Math.max(1, b.messages))} µs; profiles: ${o?.file} --per=${o?.deliveries}, ${b?.file} --per=${b?.deliveries}`,
  });
  ctx.details.fanout = { profile: { ...P, ...out } };
}

interface QuietSide {
  deliveries: number;
  messages: number;
  cpuUs: number;
  /** PostgreSQL's CPU over the side's steps (µs): ours stores every message, bare nothing (its figure is the database idling). */
  postgresUs: number;
  steps: FanoutStep[];
}

/** Rooms of `Q.room` at each of `Q.rates`, `Q.rounds` steps per side alternating: CPU per delivery at the rates real chats run at. */
async function quietCase(ctx: FanoutContext, Q: NonNullable<FanoutConfig["quiet"]>, room: Room, ours: Child, bare: Child, bareStore: Child) {
  const S: SatConfig = { ...ctx.F.sat, senders: Q.senders, startRate: Q.rates[0]!, stepMs: Q.stepMs };
  const redisCpu = () => redisCpuSeconds(ctx.redis.port);
  const sides = [
    newSide({ key: "oq", label: "quiet ours", gateways: [ours], room: Q.room, redisCpu }, Q.rates[0]!),
    newSide({ key: "bq", label: "quiet bare", gateways: [bare], room: Q.room, redisCpu }, Q.rates[0]!),
    newSide({ key: "sq", label: "quiet bare + store", gateways: [bareStore], room: Q.room, redisCpu }, Q.rates[0]!),
  ];
  const rates: Record<string, { ours: QuietSide; bare: QuietSide; bareStore: QuietSide; ratio: number | null; ratioToStore: number | null }> = {};
  try {
    await openRooms(ctx, sides, room, S);
    for (const side of sides) await satStep(side, ctx.clients, { ...S, stepMs: Q.warmMs }, Q.rates.at(-1)!, `${side.key}w`);
    for (const rate of Q.rates) {
      const out: Record<string, QuietSide> = {};
      for (const side of sides) out[side.key] = { deliveries: 0, messages: 0, cpuUs: 0, postgresUs: 0, steps: [] };
      for (let r = 0; r < Q.rounds; r += 1) {
        // Each round in another order (rotated), so that no side always runs first.
        for (const side of [...sides.slice(r % sides.length), ...sides.slice(0, r % sides.length)]) {
          const st = await satStep(side, ctx.clients, S, rate, `${side.key}${rate}r${r}`);
          const o = out[side.key]!;
          o.deliveries += st.deliveries;
          o.messages += st.ackedInAll;
          o.cpuUs += st.gatewayCpuUs[0]!;
          o.postgresUs += (st.cpu?.postgres ?? 0) * 1e6;
          o.steps.push(brief(st)!);
          ctx.log(`fanout: ${side.label} at ${rate} msg/s, round ${r + 1}: ${stepText(side, st, S)}`);
          await sleep(300);
        }
      }
      const [o, b, st] = [out.oq!, out.bq!, out.sq!];
      const per = (x: QuietSide) => (x.deliveries > 0 ? x.cpuUs / x.deliveries : null);
      const ratioOf = (x: QuietSide, y: QuietSide) => (per(x) !== null && per(y) !== null ? per(x)! / per(y)! : null);
      const ratio = ratioOf(o, b);
      const ratioToStore = ratioOf(o, st);
      rates[rate] = { ours: o, bare: b, bareStore: st, ratio, ratioToStore };
      const perMessage = (x: QuietSide) => x.cpuUs / Math.max(1, x.messages);
      const missing = [o, b, st].map((x) => x.steps.reduce((n, s) => n + (s.sustained ? 0 : 1), 0));
      ctx.row(`fanout.quiet-${rate}`, {
        figure: `fan-out at a quiet rate: gateway CPU per delivery, one gateway, rooms of ${Q.room}, ${rate} msg/s`,
        ours: per(o),
        baseline: per(b),
        unit: "µs",
        ratio,
        note:
          `${Q.rounds} steps of ${Q.stepMs / 1000} s per side, rotating, after ${Q.warmMs / 1000} s at ${Q.rates.at(-1)} msg/s each (JIT warm-up, not counted), ${Q.senders} senders over ${room.chatIds.length} rooms; per message ${f0(perMessage(o))} vs ${f0(perMessage(b))} µs; ` +
          `PostgreSQL ${f0(o.postgresUs / Math.max(1, o.messages))} µs per stored message (${f0(b.postgresUs / Math.max(1, b.messages))} µs per message while bare ran: the database idling); ` +
          `bare + store (one INSERT per message before the broadcast and the ack) ${f1(per(st))} µs per delivery, ${f0(perMessage(st))} per message: ours ${ratioToStore === null ? "n/a" : ratioToStore.toFixed(2)}x of it; ` +
          `${o.deliveries} vs ${b.deliveries} vs ${st.deliveries} deliveries; steps not sustained ${missing[0]} vs ${missing[1]} vs ${missing[2]}`,
      });
    }
  } finally {
    await Promise.all(ctx.clients.map((c) => c.call("satClose", {}, 30_000).catch(() => undefined)));
  }
  return { room: Q.room, rooms: room.chatIds.length, senders: Q.senders, stepMs: Q.stepMs, rounds: Q.rounds, warmMs: Q.warmMs, rates };
}

export const fanoutPhase: Phase = {
  name: "fanout",
  needs: ["clients"],
  alone: [],
  run: (bench) => fanout({ ...bench, F: fanoutConfig(bench.options.fanout) }),
};

async function fanout(ctx: FanoutContext): Promise<void> {
  const { log, F } = ctx;
  const started = Date.now();
  const oursEnv = { ...ctx.env, ...F.env, BENCH_MODE: "ours" };
  const bareEnv = { BENCH_MODE: "bare-chat", BENCH_REDIS_URL: ctx.redis.url };
  const gws: Child[] = [];
  const spawn = async (name: string, env: Record<string, string>) => {
    const c = await spawnChild(name, ctx.serverFile, { env, nodeFlags: ["--expose-gc"] });
    gws.push(c);
    return c;
  };
  const spawnPair = (k: number) => Promise.all([spawn(`fo-ours-${k}`, oursEnv), spawn(`fo-bare-${k}`, bareEnv)]);
  const sizes = ctx.profileDir ? [F.profile.room] : [...new Set([...F.rooms, ...(F.three ? [F.threeRoom] : []), ...(F.quiet ? [F.quiet.room] : [])])];
  try {
    const [[o1, b1], seeded] = await Promise.all([spawnPair(1), Promise.all(sizes.map((n) => seed(ctx.database.url, ctx.tokens, `fo${n}_`, n * chatsFor(F, n), chatsFor(F, n))))]);
    const rooms = new Map(sizes.map((n, i) => [n, seeded[i]!]));
    log(`fanout: ${o1.name} (pid ${o1.info.pid}, limits ${JSON.stringify(o1.info.limits)}), ${b1.name} (pid ${b1.info.pid}); rooms of ${sizes.join(", ")} seeded; ${ctx.clients.length} generators`);
    if (ctx.profileDir) return await profileCase(ctx, ctx.profileDir, rooms.get(F.profile.room)!, o1, b1);
    const details: Record<string, unknown> = {
      config: { rooms: F.rooms, sat: F.sat, startDeliveries: F.startDeliveries, latencyAt: F.latencyAt, latencyStepMs: F.latencyStepMs, generators: ctx.clients.length, env: F.env, limits: o1.info.limits },
      rooms: {},
    };
    ctx.details.fanout = details;
    for (const n of F.rooms) {
      const t = Date.now();
      (details.rooms as Record<string, FanoutCase>)[n] = await runCase(ctx, `room${n}`, rooms.get(n)!, n, [o1], [b1], Math.max(1, Math.round(F.startDeliveries / n)));
      log(`fanout: room of ${n} took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
    if (F.quiet) {
      const t = Date.now();
      const s1 = await spawn("fo-bare-store-1", { ...bareEnv, BENCH_MODE: "bare-store", BENCH_DATABASE_URL: ctx.env.BENCH_DATABASE_URL ?? "" });
      details.quiet = await quietCase(ctx, F.quiet, rooms.get(F.quiet.room)!, o1, b1, s1);
      log(`fanout: quiet rates took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
    if (F.three) {
      const t = Date.now();
      const [[o2, b2], [o3, b3]] = await Promise.all([spawnPair(2), spawnPair(3)]);
      // From half of the lower one-gateway capacity (a room of the same size), so that the ladder needs few steps.
      const one = (details.rooms as Record<string, FanoutCase>)[F.threeRoom];
      const known = [one?.ours.sustained?.offered, one?.bare.sustained?.offered].filter((x): x is number => x !== undefined);
      const start = known.length ? Math.max(1, Math.round(Math.min(...known) / 2)) : Math.round(F.startDeliveries / F.threeRoom);
      details.threeGateways = await runCase(ctx, "3gw", rooms.get(F.threeRoom)!, F.threeRoom, [o1, o2, o3], [b1, b2, b3], start);
      log(`fanout: 3 gateways took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
  } finally {
    await Promise.all(gws.map((g) => g.stop()));
    log(`fanout: phase took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}


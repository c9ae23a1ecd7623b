/**
 * The saturation ladder shared by the cluster and fan-out phases: one chat room per side, held by
 * the load generators (client-proc's `satOpen`), sent to open-loop at an offered rate (messages/s)
 * in short steps, the rate raised step by step until the side fails `failsToStop` steps in a row.
 * Several sides (configurations measured against each other) climb their ladders interleaved step
 * by step, so that the machine's noise hits all alike. Each step reports what was sent, acked and
 * delivered, the ack and delivery latencies, and the CPU of the side's gateways, of Redis and of
 * every load generator (so that a reader can tell whether the gateways or the generators were the
 * limit).
 */
import { type Child, sleep } from "./ipc";
import { cpuSnapshot, cpuText, type CpuUse, cpuUse, disturbed } from "./cpu-account";
import { addCounts, mergedSummary, type Summary } from "./stats";

export interface SatConfig {
  /** Sending sockets in the room, spread over the generators (each generator's first sockets). */
  senders: number;
  stepMs: number;
  startRate: number;
  /** The next rate after a sustained step. */
  factor: number;
  /**
   * Optional coarse search: until the side's first failure the rate grows by this instead; after it,
   * the ladder goes on from the highest sustained rate × `factor` (so the ladder finds a capacity far
   * from the start rate in few steps, then closes in at `factor`).
   */
  coarseFactor?: number;
  /**
   * With `coarseFactor`: after the first failure, bisect (geometrically) between the highest rate
   * sustained and the lowest that failed, until they are within `bisect` of each other (e.g. 1.06) or
   * the steps run out, instead of climbing by `factor`: a finer figure in as many steps.
   */
  bisect?: number;
  maxSteps: number;
  failsToStop: number;
  /** Sends of the step's last `tailMs` judge the backlog: their acks and deliveries at the median within `lagMs`. */
  tailMs: number;
  lagMs: number;
  ackWaitMs: number;
  drainMs: number;
  /** The warm-up step's length (default `stepMs`). */
  warmupMs?: number;
  /** Breaths between steps (ms): after a sustained step, after an overload (its backlog's GC and writes). */
  restMs?: number;
  restAfterFailMs?: number;
}

export interface SatSide {
  /** The room's name in the generators (and the steps' tag prefix). */
  key: string;
  label: string;
  /** The gateways the room's sockets are on (their CPU is counted). */
  gateways: Child[];
  /** Sockets in the room: the deliveries each message makes. */
  room: number;
  /** Redis CPU-seconds used so far (every Redis server the side uses), if measured. */
  redisCpu?: () => Promise<number>;
  steps: SatStep[];
  /** The next rate to offer (msg/s), failed steps in a row, finished. */
  rate: number;
  fails: number;
  done: boolean;
  /** A disturbed step was run again (once per side). */
  retried?: boolean;
  /** A step of this side failed (the coarse search is over). */
  failedOnce?: boolean;
}

export const newSide = (s: Omit<SatSide, "steps" | "rate" | "fails" | "done">, startRate: number): SatSide => ({ ...s, steps: [], rate: startRate, fails: 0, done: false });

export interface SatStep {
  offered: number;
  sent: number;
  acked: number;
  ackedInAll: number;
  refused: Record<string, number>;
  /** First send to last send (s). */
  seconds: number;
  messagesPerSecond: number;
  deliveries: number;
  wantedDeliveries: number;
  deliveriesPerSecond: number;
  /** Deliveries to the sockets on each of the side's gateways (same order as `gateways`). */
  deliveriesByGateway: number[];
  ack: Summary;
  delivery: Summary;
  /** Of the messages sent in the step's last `tailMs`: a backlog that built up during the step shows here. */
  ackTail: Summary;
  deliveryTail: Summary;
  /** Most a generator fell behind its send schedule (ms): the generator, not the gateways, was short of CPU. */
  senderLateMs: number;
  /** Wall time over which the CPU figures were taken: the sends and the drain of the deliveries (s). */
  measuredSeconds: number;
  /** CPU (user + system) each gateway used meanwhile (µs, same order as `gateways`). */
  gatewayCpuUs: number[];
  gatewayCpuUsPerMessage: number;
  gatewayCpuUsPerDelivery: number;
  /** The gateways' system calls per message (reads, writes). */
  syscallsPerMessage: { reads: number; writes: number };
  redisCpuUsPerMessage: number;
  /** CPU-seconds each load generator used meanwhile, and the busiest one's share of a core. */
  generatorCpuSeconds: number[];
  generatorBusiestCore: number;
  cpu: CpuUse | null;
  ok: boolean;
  why: string;
}

type CpuReply = { cpu: { user: number; system: number } };
const cpuOf = async (children: Child[]) => (await Promise.all(children.map((c) => c.call<CpuReply>("cpu")))).map((r) => r.cpu.user + r.cpu.system);
/** The gateways' read and write system calls so far, summed (each wake-up reads, each write to a client or a server writes). */
const syscallsOf = async (children: Child[]) =>
  (await Promise.all(children.map((c) => c.call<{ reads: number; writes: number }>("syscalls")))).reduce((a, c) => ({ reads: a.reads + c.reads, writes: a.writes + c.writes }), { reads: 0, writes: 0 });

/**
 * One saturation step on one side: every generator sends its share of `rate` for `stepMs`
 * (open-loop), then the deliveries drain (bounded). Sustained when every send was acked within
 * `ackWaitMs` of the last send, none was refused, every delivery came, and the messages sent in the
 * step's last `tailMs` were acked and delivered within `lagMs` at the median: past the gateways'
 * capacity a backlog builds up over the step, and its last messages wait behind it (at 1.1x the
 * capacity for 2.5 s, about 250 ms). A p99 would judge the machine's hiccups (a PostgreSQL fsync, a
 * GC pause) instead; the p99s are reported.
 */
export async function satStep(side: SatSide, clients: Child[], S: SatConfig, rate: number, tag = `${side.key}${side.steps.length}`): Promise<SatStep> {
  const gwA = await cpuOf(side.gateways);
  const callsA = await syscallsOf(side.gateways);
  const genA = await cpuOf(clients);
  const redisA = (await side.redisCpu?.()) ?? 0;
  const m0 = cpuSnapshot();
  type Part = { sent: number; acked: number; ackedInAll: number; refused: Record<string, number>; start: number; sendEnd: number; lateBy: number; ack: number[]; ackTail: number[] };
  const parts = await Promise.all(
    clients.map((c) =>
      c.call<Part>(
        "satStep",
        { room: side.key, tag, rate: rate / clients.length, senders: Math.ceil(S.senders / clients.length), durationMs: S.stepMs, ackWaitMs: S.ackWaitMs, tailMs: S.tailMs },
        60_000,
      ),
    ),
  );
  const ackedInAll = parts.reduce((a, p) => a + p.ackedInAll, 0);
  const wanted = ackedInAll * side.room;
  const drainStart = Date.now();
  for (let i = 0; i < 200 && Date.now() - drainStart < S.drainMs; i += 1) {
    const n = (await Promise.all(clients.map((c) => c.call<number>("satCount", { room: side.key, tag })))).reduce((a, b) => a + b, 0);
    if (n >= wanted) break;
    await sleep(100);
  }
  const cpu = cpuUse(m0, cpuSnapshot());
  const gwB = await cpuOf(side.gateways);
  const callsB = await syscallsOf(side.gateways);
  const genB = await cpuOf(clients);
  const redisB = (await side.redisCpu?.()) ?? 0;
  const tailFrom = Math.max(...parts.map((p) => p.sendEnd)) - S.tailMs;
  const got = await Promise.all(
    clients.map((c) => c.call<{ n: number; latencies: number[]; tailN: number; tail: number[]; byGateway: number[] }>("satCollect", { room: side.key, tag, tailFrom })),
  );
  const sent = parts.reduce((a, p) => a + p.sent, 0);
  const acked = parts.reduce((a, p) => a + p.acked, 0);
  const refused: Record<string, number> = {};
  for (const p of parts) addCounts(refused, p.refused);
  const seconds = (Math.max(...parts.map((p) => p.sendEnd)) - Math.min(...parts.map((p) => p.start))) / 1000;
  const measuredSeconds = cpu?.seconds ?? seconds;
  const deliveries = got.reduce((a, g) => a + g.n, 0);
  const deliveriesByGateway = side.gateways.map((_, k) => got.reduce((a, g) => a + (g.byGateway[k] ?? 0), 0));
  const ack = mergedSummary(parts.map((p) => ({ n: p.acked, latencies: p.ack })));
  const delivery = mergedSummary(got);
  const ackTail = mergedSummary(parts.map((p) => ({ n: p.ackTail.length, latencies: p.ackTail })));
  const deliveryTail = mergedSummary(got.map((g) => ({ n: g.tailN, latencies: g.tail })));
  const senderLateMs = Math.max(...parts.map((p) => p.lateBy));
  const gatewayCpuUs = gwB.map((b, k) => b - gwA[k]!);
  const gatewayCpu = gatewayCpuUs.reduce((a, b) => a + b, 0);
  const generatorCpuSeconds = genB.map((b, k) => (b - genA[k]!) / 1e6);
  const whys: string[] = [];
  if (acked < sent) whys.push(`${sent - acked} of ${sent} not acked within ${S.ackWaitMs} ms of the last send`);
  if (Object.keys(refused).length) whys.push(`refused ${JSON.stringify(refused)}`);
  if (deliveries < sent * side.room) whys.push(`${deliveries}/${sent * side.room} deliveries`);
  if (ackTail.n === 0) whys.push(`acks lag: none of the last ${S.tailMs} ms's sends acked in time`);
  else if (!(ackTail.p50 <= S.lagMs)) whys.push(`acks lag: p50 ${ackTail.p50.toFixed(0)} ms for the last ${S.tailMs} ms's sends`);
  if (!(deliveryTail.p50 <= S.lagMs)) whys.push(`deliveries behind: p50 ${deliveryTail.p50.toFixed(0)} ms for the last ${S.tailMs} ms's sends`);
  return {
    offered: rate,
    sent,
    acked,
    ackedInAll,
    refused,
    seconds,
    messagesPerSecond: acked / seconds,
    deliveries,
    wantedDeliveries: sent * side.room,
    deliveriesPerSecond: deliveries / seconds,
    deliveriesByGateway,
    ack,
    delivery,
    ackTail,
    deliveryTail,
    senderLateMs,
    measuredSeconds,
    gatewayCpuUs,
    gatewayCpuUsPerMessage: gatewayCpu / Math.max(1, ackedInAll),
    gatewayCpuUsPerDelivery: gatewayCpu / Math.max(1, deliveries),
    syscallsPerMessage: { reads: (callsB.reads - callsA.reads) / Math.max(1, ackedInAll), writes: (callsB.writes - callsA.writes) / Math.max(1, ackedInAll) },
    redisCpuUsPerMessage: ((redisB - redisA) * 1e6) / Math.max(1, ackedInAll),
    generatorCpuSeconds,
    generatorBusiestCore: Math.max(...generatorCpuSeconds) / Math.max(0.001, measuredSeconds),
    cpu,
    ok: whys.length === 0,
    why: whys.join(", "),
  };
}

/** The load generators' CPU during a step: the busiest one's share of a core, and all of them in cores. */
export const generatorsText = (st: SatStep) =>
  `generators busiest ${(st.generatorBusiestCore * 100).toFixed(0)} % of a core, all ${(st.generatorCpuSeconds.reduce((a, b) => a + b, 0) / Math.max(0.001, st.measuredSeconds)).toFixed(2)} cores`;

/** One step's log line. */
export function stepText(side: SatSide, st: SatStep, S: SatConfig): string {
  return (
    `offered ${st.offered} msg/s → ${st.messagesPerSecond.toFixed(0)} msg/s acked in time, ${st.deliveriesPerSecond.toFixed(0)} deliveries/s ` +
    `(${st.deliveries}/${st.wantedDeliveries}), ack p50/p99 ${st.ack.p50.toFixed(1)}/${st.ack.p99.toFixed(1)} ms, delivery p50/p99 ${st.delivery.p50.toFixed(1)}/${st.delivery.p99.toFixed(1)} ms ` +
    `(last ${S.tailMs} ms's sends: ack p50 ${st.ackTail.p50.toFixed(1)}, delivery p50 ${st.deliveryTail.p50.toFixed(1)} ms), ` +
    `gateway${side.gateways.length > 1 ? "s" : ""} ${st.gatewayCpuUsPerMessage.toFixed(0)} µs CPU per message, ${st.gatewayCpuUsPerDelivery.toFixed(2)} µs per delivery, ` +
    `system calls per message ${st.syscallsPerMessage.reads.toFixed(1)} reads, ${st.syscallsPerMessage.writes.toFixed(1)} writes, ` +
    `Redis ${st.redisCpuUsPerMessage.toFixed(0)} µs per message, senders up to ${st.senderLateMs.toFixed(0)} ms behind, ${generatorsText(st)}; ` +
    `${st.ok ? "sustained" : `NOT sustained: ${st.why}`}; ${cpuText(st.cpu)}${disturbed(st.cpu) ? " (DISTURBED)" : ""}`
  );
}

/**
 * Every side's ladder, interleaved step by step (the order alternating each round): a step at the
 * side's rate, then the next rate (× `factor`, or × `coarseFactor` until the side's first failure;
 * with `coarseFactor`, ÷ it while no step was sustained), until the side fails `failsToStop` steps in a row, or ran `maxSteps`, or `deadline` (epoch ms)
 * passed. A failed step during which other processes were busy is run again once per side, where
 * the verdict matters (the first failure after a sustained step). `warmupRate`: first one step per
 * side at that rate, not counted (a cold room runs slow: JIT, the first sends and inserts).
 */
export async function satLadder(opts: { sides: SatSide[]; clients: Child[]; S: SatConfig; log: (msg: string) => void; warmupRate?: (side: SatSide) => number; deadline?: number }): Promise<void> {
  const { sides, clients, S, log } = opts;
  const rest = (ok: boolean) => sleep(ok ? (S.restMs ?? 500) : (S.restAfterFailMs ?? 2_000));
  if (opts.warmupRate) {
    for (const side of sides) {
      const rate = opts.warmupRate(side);
      const w = await satStep(side, clients, { ...S, stepMs: S.warmupMs ?? S.stepMs }, rate, `${side.key}w`);
      await rest(true);
      log(`${side.label} warm-up at ${rate} msg/s (not counted): ack p99 ${w.ack.p99.toFixed(1)} ms, delivery p99 ${w.delivery.p99.toFixed(1)} ms, ${w.deliveries}/${w.wantedDeliveries}`);
    }
  }
  for (let round = 0; round < S.maxSteps && sides.some((x) => !x.done); round += 1) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      if (side.done) continue;
      if (opts.deadline !== undefined && Date.now() > opts.deadline) {
        side.done = true;
        log(`${side.label}: the phase's time is up, no more steps`);
        continue;
      }
      const rate = Math.round(side.rate);
      let st = await satStep(side, clients, S, rate);
      await rest(st.ok);
      if (!st.ok && disturbed(st.cpu) && side.fails === 0 && !side.retried) {
        side.retried = true;
        log(`${side.label} at ${rate} msg/s failed (${st.why}) while other processes were busy (${cpuText(st.cpu)}): once more`);
        st = await satStep(side, clients, S, rate, `${side.key}${side.steps.length}r`);
        await rest(st.ok);
      }
      const best = sustained(side);
      side.steps.push(st);
      side.fails = st.ok ? 0 : side.fails + 1;
      const lowestFailed = Math.min(...side.steps.filter((x) => !x.ok).map((x) => x.offered));
      const top = st.ok && (!best || st.offered > best.offered) ? st : best;
      if (S.bisect && S.coarseFactor && top && Number.isFinite(lowestFailed) && lowestFailed > top.offered) {
        // Between the highest sustained rate and the lowest failed one: the geometric middle.
        side.failedOnce = true;
        side.fails = 0;
        if (lowestFailed / top.offered <= S.bisect) side.done = true;
        side.rate = Math.sqrt(top.offered * lowestFailed);
      } else if (st.ok) side.rate = rate * (side.failedOnce || !S.coarseFactor ? S.factor : S.coarseFactor);
      else if (S.coarseFactor && !best) {
        // The coarse search started above the capacity: down by as much until a step is sustained (not counted as a failure in a row).
        side.rate = rate / S.coarseFactor;
        side.fails = 0;
      } else if (S.coarseFactor && !side.failedOnce) {
        // The coarse search overshot: close in from the highest rate sustained.
        side.rate = best && best.offered * S.factor < rate ? best.offered * S.factor : rate * S.factor;
      } else side.rate = rate * S.factor;
      if (!st.ok) side.failedOnce = true;
      if (side.fails >= S.failsToStop || side.steps.length >= S.maxSteps) side.done = true;
      log(`${side.label} step ${side.steps.length}: ${stepText(side, st, S)}`);
    }
  }
}

/** The side's sustained step of the highest rate (messages acked per second), if any. */
export const sustained = (side: SatSide) => side.steps.filter((x) => x.ok).sort((a, b) => b.messagesPerSecond - a.messagesPerSecond)[0];

/** The machine's cores busy during a step. */
export const busyCores = (x: SatStep | undefined) => (x?.cpu ? (x.cpu.machine / x.cpu.seconds).toFixed(2) : "?");

/** The rates a side offered, each with ✓ (sustained) or ✗. */
export const ladderText = (side: SatSide) => side.steps.map((x) => `${x.offered}${x.ok ? "✓" : "✗"}`).join(" ");

export function firstFailText(side: SatSide): string {
  const f = side.steps.find((x) => !x.ok);
  return f ? `first failure at ${f.offered} msg/s (${f.why})` : `no step failed up to ${Math.max(...side.steps.map((x) => x.offered))} msg/s`;
}

/** How the ladder judges a step (for the rows' notes). */
export const ladderRule = (S: SatConfig) =>
  `steps of ${S.stepMs / 1000} s from ${S.startRate} msg/s, ${
    S.coarseFactor && S.bisect
      ? `×${S.coarseFactor} until the first failure, then halving (geometrically) the gap between the highest rate sustained and the lowest failed, until within ×${S.bisect} (at most ${S.maxSteps} steps)`
      : `×${S.coarseFactor ? `${S.coarseFactor} until the first failure, then ×${S.factor}` : S.factor} each, until ${S.failsToStop} fail in a row (at most ${S.maxSteps})`
  }; ` +
  `sustained = every send acked within ${S.ackWaitMs} ms of the last, none refused, every delivery, and the last ${S.tailMs} ms's sends acked and delivered within ${S.lagMs} ms at the median (no backlog)`;

/**
 * `--only=webhooks`: what webhooks and the server API cost. One gateway, one api replica
 * (WEBHOOK_ALLOW_PRIVATE=on: the receiver is on loopback) and, for the second row, the webhook worker,
 * each in its own process on a redis-server of the phase's own; 60 users in 30 chats (2 each), whose
 * light sockets (lib/stored-proc.ts, 2 generators) send closed-loop or at a set pace; a plain HTTP
 * receiver (lib/webhook-receiver.ts) answers every delivery 200 at once.
 * - send-cpu: the gateway's CPU per acknowledged `message:send` with an endpoint subscribed to
 *   message.created against without one: the same gateway, the same count of messages per round at
 *   the same offered rate, rounds alternating (the order flipped each round); then one closed-loop
 *   pair, for what each side sustains. Closed-loop, the gateway's CPU per message falls as its rate
 *   rises (more messages per statement and per write), and the endpoint lowers the rate PostgreSQL
 *   sustains, so closed-loop rounds compare two rates rather than the gateway's own work (1.19x and
 *   1.26x on 2026-12-06's busy machine, where the paced rounds read 0.84-0.91x). Each "with" round
 *   registers a fresh endpoint (`POST /server/v1/webhooks`) and deletes it after (its deliveries
 *   with it). The worker is not running yet: the deliveries wait, so that its PostgreSQL work does
 *   not take the shared cores from the gateway measured. The baseline is our own gateway without
 *   the endpoint, not the bare server.
 * - deliveries: the worker in its own process (bin/worker.ts's startWorkerServer, default settings)
 *   delivering 3,000 messages of 30 chats, from the first store to the last delivery received;
 *   against the same burst's stored messages/s.
 * - publish: closed-loop publishers calling `POST /server/v1/chats/{id}/messages` (the api) against
 *   as many sockets sending `message:send` (the gateway), rounds alternating; no endpoint registered.
 * With --profile: V8 profiles of the worker over the delivery burst and of the api over the last
 * publish round (bench/results/prof/webhooks-*.cpuprofile).
 */
import { join } from "node:path";
import { sql } from "kysely";
import { Webhook } from "standardwebhooks";
import { createServerKey } from "../../api/server-api/server-keys";
import { createServerClient, type ServerClient } from "../../client/server";
import type { BenchContext, Phase } from "../lib/context";
import { cpuSnapshot, cpuText, type CpuUse, cpuUse, disturbed } from "../lib/cpu-account";
import { type Child, sleep, spawnChild } from "../lib/ipc";
import { RAISED_LIMITS, split } from "../lib/load";
import { withOwnRedis } from "../lib/own-redis";
import { seed } from "../lib/setup";
import { addCounts, medianRound as median } from "../lib/stats";
import type { RunResult } from "../lib/stored-proc";
import type { ReceiverSeen } from "../lib/webhook-receiver";
import { STORED } from "./stored";

export const WEBHOOKS = {
  chats: 30,
  /** Sockets (and, for the publish row, HTTP publishers): 2 per chat. */
  senders: 60,
  generators: 2,
  /**
   * send-cpu: rounds of 60 × 40 = 2,400 messages at one rate, each socket one per `paceMs` (600/s in
   * all: below what either side sustains here), this many rounds each way after a warm-up of 60 × 10;
   * then one closed-loop pair of 60 × 60 (what each side sustains).
   */
  cpu: { perSender: 40, paceMs: 100, warmPerSender: 10, rounds: 5, closedPerSender: 60 },
  /** deliveries: 60 × 50 = 3,000 messages; the last delivery awaited at most this long. */
  deliveries: { perSender: 50, timeoutMs: 180_000 },
  publish: { roundMs: 4_000, warmMs: 1_500, rounds: 3 },
  text: STORED.text,
  /** The gateway's limits raised as in the stored phase (a user sends hundreds per second here). */
  gatewayEnv: RAISED_LIMITS,
  /** The api registers, and the worker delivers to, a receiver on 127.0.0.1. */
  webhookEnv: { WEBHOOK_ALLOW_PRIVATE: "on" },
};

/** The median round of each figure named (the rounds of one kind). */
function medians<R, K extends keyof R>(rounds: R[], keys: K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, median(rounds.map((r) => Number(r[k])))])) as Record<K, number>;
}

/** The generators' answers to one load command, added up (the slowest generator's seconds). */
function together(parts: RunResult[]) {
  return {
    done: parts.reduce((a, p) => a + p.done, 0),
    failed: parts.reduce((a, p) => a + p.failed, 0),
    errors: parts.reduce((into, p) => addCounts(into, p.errors), {} as Record<string, number>),
    seconds: Math.max(...parts.map((p) => p.seconds)),
    ackP50: median(parts.map((p) => p.latency.p50)),
  };
}

/** CPU-µs of a server process so far (server-proc's `cpu`). */
async function cpuUs(c: Child): Promise<number> {
  const r = await c.call<{ cpu: { user: number; system: number } }>("cpu");
  return r.cpu.user + r.cpu.system;
}

/** With --profile: a V8 CPU profile of `child` over `work`, into the profile directory as `<name>.cpuprofile` (profile-top.ts reads it). */
async function profiled<T>(ctx: BenchContext, child: Child, name: string, work: () => Promise<T>): Promise<T> {
  if (!ctx.profileDir) return work();
  await child.call("profileStart");
  try {
    return await work();
  } finally {
    const { file, samples } = await child.call<{ file: string; samples: number }>("profileStop", { file: join(ctx.profileDir, `webhooks-${name}.cpuprofile`) });
    ctx.log(`webhooks: profile of ${child.name} (${samples} samples) in ${file}`);
  }
}

/** The processes and handles the three measurements share. */
interface Rig {
  ctx: BenchContext;
  env: Record<string, string>;
  gw: Child;
  api: Child;
  receiver: Child;
  generators: Child[];
  server: ServerClient;
  key: string;
  /** Each generator's publishers: the chats of its sockets. */
  chatsOf: string[][];
}

/** Registers an endpoint on the receiver's `path` for message.created (through the server API's batch call: the typed client has no webhook methods). */
async function addEndpoint(rig: Rig, path: string): Promise<{ id: string; secret: string }> {
  const [res] = await rig.server.batch([{ method: "POST", path: "/webhooks", body: { url: `${String(rig.receiver.info.url)}${path}`, events: ["message.created"] } }]);
  if (res?.status !== 201) throw new Error(`POST /server/v1/webhooks: ${res?.status} ${JSON.stringify(res?.body)}`);
  const body = res.body as { endpoint: { id: string }; secret: string };
  return { id: body.endpoint.id, secret: body.secret };
}

async function deleteEndpoint(rig: Rig, id: string): Promise<void> {
  const [res] = await rig.server.batch([{ method: "DELETE", path: `/webhooks/${id}` }]);
  if (res?.status !== 204) throw new Error(`DELETE /server/v1/webhooks/${id}: ${res?.status} ${JSON.stringify(res?.body)}`);
}

/** Every socket sends `perSender` messages closed-loop, or one per `paceMs` at most (bounded by time too). */
const sendAll = async (rig: Rig, perSender: number, paceMs?: number) =>
  together(await Promise.all(rig.generators.map((g) => g.call<RunResult>("send", { durationMs: 60_000, text: WEBHOOKS.text, perSender, paceMs }, 90_000))));

/** An endpoint's deliveries by status (pending, delivered, dead). */
async function deliveryStatuses(rig: Rig, endpointId: string): Promise<Record<string, number>> {
  const { rows } = await sql<{ status: string; n: number }>`select status, count(*)::int as n from webhook_deliveries where endpoint_id = ${endpointId}::uuid group by status`.execute(rig.ctx.database.db);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export const webhooksPhase: Phase = {
  name: "webhooks",
  needs: [],
  async run(ctx) {
    await withOwnRedis(ctx, async (env, spawn, track) => {
      const seeded = await seed(ctx.database.url, ctx.tokens, "wh_", WEBHOOKS.senders, WEBHOOKS.chats);
      const items = seeded.users.map((u, i) => ({ token: u.token, chatId: seeded.chatOf(i)! }));
      const { key } = await createServerKey(ctx.database.db, "bench-webhooks", ["publish", "moderate"]);
      const procFile = join(__dirname, "../lib/stored-proc.ts");
      const [gw, api, receiver, ...generators] = await Promise.all([
        spawn("gw-wh", ctx.serverFile, { ...env, ...WEBHOOKS.gatewayEnv, BENCH_MODE: "ours" }),
        spawn("api-wh", ctx.serverFile, { ...env, ...WEBHOOKS.webhookEnv, BENCH_MODE: "api" }),
        spawn("wh-receiver", join(__dirname, "../lib/webhook-receiver.ts"), {}),
        ...Array.from({ length: WEBHOOKS.generators }, (_, k) => spawn(`wh-senders${k + 1}`, procFile, { BENCH_LOCAL_ADDRESS: `127.0.0.${k + 2}` })),
      ]);
      const parts = split(items, generators.length);
      const opened = await Promise.all(generators.map((g, k) => g.call<number>("open", { url: gw!.info.url, items: parts[k] }, 60_000)));
      const rig: Rig = {
        ctx,
        env,
        gw: gw!,
        api: api!,
        receiver: receiver!,
        generators,
        server: createServerClient({ url: String(api!.info.url), key }),
        key,
        chatsOf: parts.map((p) => p.map((i) => i.chatId)),
      };
      ctx.log(`webhooks: ${opened.reduce((a, b) => a + b, 0)} sockets joined ${WEBHOOKS.chats} chats on gw-wh (${generators.length} generators); api-wh, wh-receiver on ${String(receiver!.info.url)}`);
      await measureSendCpu(rig);
      await measureDeliveries(rig, track);
      await measurePublish(rig);
    });
  },
};

interface SendCpuRound {
  kind: "with" | "without";
  messages: number;
  failed: number;
  errors: Record<string, number>;
  perSecond: number;
  ackP50: number;
  /** CPU per acknowledged message, µs: the gateway, PostgreSQL (all its processes). */
  gatewayUs: number;
  postgresUs: number;
  /** Commits in the bench database per message (approximate: statistics flushed about once a second). */
  commitsPerMessage: number;
  /** "with": the endpoint's deliveries waiting when the round ended (one per message stored). */
  queued: number | null;
  cpu: CpuUse | null;
}

async function measureSendCpu(rig: Rig): Promise<void> {
  const { ctx } = rig;
  let n = 0;
  const round = async (kind: "with" | "without", perSender: number, paceMs?: number): Promise<SendCpuRound> => {
    const endpoint = kind === "with" ? await addEndpoint(rig, `/hooks/cpu-${(n += 1)}`) : undefined;
    try {
      const [c0, x0, m0] = [await cpuUs(rig.gw), await ctx.commits(), cpuSnapshot()];
      const r = await sendAll(rig, perSender, paceMs);
      const m1 = cpuSnapshot();
      const c1 = await cpuUs(rig.gw);
      await sleep(1_100);
      const x1 = await ctx.commits();
      const cpu = cpuUse(m0, m1);
      const queued = endpoint ? Object.values(await deliveryStatuses(rig, endpoint.id)).reduce((a, b) => a + b, 0) : null;
      const per = Math.max(1, r.done);
      return {
        kind,
        messages: r.done,
        failed: r.failed,
        errors: r.errors,
        perSecond: r.done / r.seconds,
        ackP50: r.ackP50,
        gatewayUs: (c1 - c0) / per,
        postgresUs: cpu ? (cpu.postgres * 1e6) / per : NaN,
        commitsPerMessage: (x1 - x0 - 1) / per,
        queued,
        cpu,
      };
    } finally {
      if (endpoint) await deleteEndpoint(rig, endpoint.id);
    }
  };
  const logged = (what: string, m: SendCpuRound) =>
    ctx.log(
      `webhooks: send-cpu ${m.kind} ${what}: ${m.messages} messages at ${m.perSecond.toFixed(0)}/s, ${m.failed} failed ${JSON.stringify(m.errors)}, ack p50 ${m.ackP50.toFixed(1)} ms; ` +
        `CPU per message: gateway ${m.gatewayUs.toFixed(0)} µs, PostgreSQL ${m.postgresUs.toFixed(0)} µs; ${m.commitsPerMessage.toFixed(3)} commits each` +
        `${m.queued === null ? "" : `; ${m.queued} deliveries queued`}; ${cpuText(m.cpu)}${disturbed(m.cpu) ? " (disturbed)" : ""}`,
    );
  const { paceMs } = WEBHOOKS.cpu;
  const rate = (WEBHOOKS.senders * 1000) / paceMs;
  await round("without", WEBHOOKS.cpu.warmPerSender, paceMs);
  await round("with", WEBHOOKS.cpu.warmPerSender, paceMs);
  const rounds: SendCpuRound[] = [];
  for (let r = 1; r <= WEBHOOKS.cpu.rounds; r += 1) {
    for (const kind of r % 2 === 1 ? (["without", "with"] as const) : (["with", "without"] as const)) {
      const m = await round(kind, WEBHOOKS.cpu.perSender, paceMs);
      rounds.push(m);
      logged(`round ${r} (${rate}/s offered)`, m);
    }
  }
  // What each side sustains: closed-loop, the same count.
  const closed = { without: await round("without", WEBHOOKS.cpu.closedPerSender), with: await round("with", WEBHOOKS.cpu.closedPerSender) };
  logged("closed-loop", closed.without);
  logged("closed-loop", closed.with);
  const of = (kind: "with" | "without") => rounds.filter((x) => x.kind === kind);
  const summaryOf = (kind: "with" | "without") => ({
    ...medians(of(kind), ["gatewayUs", "postgresUs", "perSecond", "ackP50", "commitsPerMessage"]),
    gatewayUsPooled: of(kind).reduce((a, x) => a + x.gatewayUs * x.messages, 0) / Math.max(1, of(kind).reduce((a, x) => a + x.messages, 0)),
  });
  const withEp = summaryOf("with");
  const without = summaryOf("without");
  const all = [...rounds, closed.with, closed.without];
  const failed = all.reduce((a, x) => a + x.failed, 0);
  const unqueued = all.filter((x) => x.kind === "with").reduce((a, x) => a + Math.max(0, x.messages - (x.queued ?? 0)), 0);
  const perRound = WEBHOOKS.senders * WEBHOOKS.cpu.perSender;
  /**
   * details.webhooks.sendCpu: `with` and `without`, each the median paced round of every figure
   * (gateway and PostgreSQL CPU per message, µs; messages/s; ack p50; commits per message) and the
   * gateway's CPU pooled over the paced rounds; `rounds`: every paced round; `closed`: the closed-loop pair.
   */
  const details = (ctx.details.webhooks ??= {}) as Record<string, unknown>;
  details.sendCpu = { with: withEp, without, perRound, offeredPerSecond: rate, rounds, closed };
  ctx.row("webhooks.send-cpu", {
    figure:
      `message:send gateway CPU per acked message, a webhook endpoint subscribed to message.created vs none; baseline: our own gateway without the endpoint, not the bare server ` +
      `(${WEBHOOKS.senders} sockets in ${WEBHOOKS.chats} chats, ${perRound} messages per round at ${rate}/s, rounds alternating, median of ${WEBHOOKS.cpu.rounds}; worker not running)`,
    ours: withEp.gatewayUs,
    baseline: without.gatewayUs,
    unit: "µs",
    ratio: withEp.gatewayUs / without.gatewayUs,
    valid: failed === 0 && unqueued === 0,
    note:
      `${failed} sends failed, ${unqueued} stored messages without a queued delivery; pooled over the rounds ${withEp.gatewayUsPooled.toFixed(0)} vs ${without.gatewayUsPooled.toFixed(0)} µs; ` +
      `PostgreSQL CPU per message ${withEp.postgresUs.toFixed(0)} vs ${without.postgresUs.toFixed(0)} µs (the event row, the fan-out trigger and its job); ` +
      `${withEp.perSecond.toFixed(0)} vs ${without.perSecond.toFixed(0)} messages/s, ack p50 ${withEp.ackP50.toFixed(1)} vs ${without.ackP50.toFixed(1)} ms; ` +
      `commits per message ${withEp.commitsPerMessage.toFixed(3)} vs ${without.commitsPerMessage.toFixed(3)}; ` +
      `closed-loop (${WEBHOOKS.senders * WEBHOOKS.cpu.closedPerSender} messages each): ${closed.with.perSecond.toFixed(0)} vs ${closed.without.perSecond.toFixed(0)} messages/s, ` +
      `gateway ${closed.with.gatewayUs.toFixed(0)} vs ${closed.without.gatewayUs.toFixed(0)} µs, PostgreSQL ${closed.with.postgresUs.toFixed(0)} vs ${closed.without.postgresUs.toFixed(0)} µs per message`,
  });
}

async function measureDeliveries(rig: Rig, track: (c: Child) => void): Promise<void> {
  const { ctx } = rig;
  // The worker in its own process, as bin/worker.ts runs it; it first finds the jobs of the send-cpu
  // rounds' endpoints (deleted: nothing to send), then waits.
  const worker = await spawnChild("worker-wh", ctx.serverFile, { env: { ...rig.env, ...WEBHOOKS.webhookEnv, BENCH_MODE: "worker" } });
  track(worker);
  const path = "/hooks/deliveries";
  const endpoint = await addEndpoint(rig, path);
  try {
    await sleep(2_000);
    const [c0, m0, t0] = [await cpuUs(worker), cpuSnapshot(), Date.now()];
    let storedAt = 0;
    const { stored, seen } = await profiled(ctx, worker, "worker-deliveries", async () => {
      const burst = await sendAll(rig, WEBHOOKS.deliveries.perSender);
      storedAt = Date.now();
      let got = await rig.receiver.call<ReceiverSeen>("seen", { path });
      for (const deadline = Date.now() + WEBHOOKS.deliveries.timeoutMs; got.distinct < burst.done && Date.now() < deadline; ) {
        await sleep(100);
        got = await rig.receiver.call<ReceiverSeen>("seen", { path });
      }
      return { stored: burst, seen: got };
    });
    const [c1, m1] = [await cpuUs(worker), cpuSnapshot()];
    const cpu = cpuUse(m0, m1);
    const statuses = await deliveryStatuses(rig, endpoint.id);
    // The deliveries are Standard Webhooks messages signed with the endpoint's secret (throws otherwise).
    let signed = false;
    if (seen.sample) {
      new Webhook(endpoint.secret).verify(seen.sample.body, seen.sample.headers);
      signed = true;
    }
    const seconds = ((seen.last ?? Date.now()) - t0) / 1000;
    const perSecond = seen.distinct / seconds;
    const storedPerSecond = stored.done / stored.seconds;
    const workerUs = (c1 - c0) / Math.max(1, seen.count);
    const postgresUs = cpu ? (cpu.postgres * 1e6) / Math.max(1, seen.count) : NaN;
    const firstMs = seen.first === null ? null : seen.first - t0;
    const result = {
      messages: stored.done,
      failed: stored.failed,
      storedPerSecond,
      storeSeconds: (storedAt - t0) / 1000,
      received: seen.count,
      distinct: seen.distinct,
      outOfOrder: seen.outOfOrder,
      seconds,
      perSecond,
      firstMs,
      workerUsPerDelivery: workerUs,
      postgresUsPerDelivery: postgresUs,
      statuses,
      signed,
      cpu,
    };
    (ctx.details.webhooks as Record<string, unknown>).deliveries = result;
    ctx.log(`webhooks: deliveries ${JSON.stringify({ ...result, cpu: cpuText(cpu) })}`);
    ctx.row("webhooks.deliveries", {
      figure:
        `webhook deliveries/s to a local receiver (answers 200), the worker in its own process with its defaults (8 jobs, 4 per endpoint), ${stored.done} messages of ${WEBHOOKS.chats} chats, ` +
        `first store → last delivery received; baseline: the same burst's stored messages/s (${WEBHOOKS.senders} sockets closed-loop)`,
      ours: perSecond,
      baseline: storedPerSecond,
      unit: "/s",
      ratio: perSecond / storedPerSecond,
      valid: stored.failed === 0 && seen.distinct === stored.done && (statuses.dead ?? 0) === 0 && seen.outOfOrder === 0 && signed,
      note:
        `${seen.distinct}/${stored.done} delivered (${seen.count - seen.distinct} twice) in ${seconds.toFixed(1)} s, stored in ${result.storeSeconds.toFixed(1)} s; first delivery ${firstMs ?? "—"} ms after the first send; ` +
        `${seen.outOfOrder} out of per-chat order; statuses ${JSON.stringify(statuses)}; signature verified: ${signed}; ` +
        `CPU per delivery: worker ${workerUs.toFixed(0)} µs, PostgreSQL ${postgresUs.toFixed(0)} µs (the store included); ${cpuText(cpu)}`,
    });
  } finally {
    await deleteEndpoint(rig, endpoint.id).catch((err: Error) => ctx.log(`webhooks: could not delete the endpoint: ${err.message}`));
    // Its cores back to the publish row.
    await worker.stop();
  }
}

interface PublishRound {
  kind: "http" | "socket";
  perSecond: number;
  calls: number;
  failed: number;
  errors: Record<string, number>;
  p50: number;
  /** CPU per call, µs: the api, the gateway (which delivers both kinds to the chat's sockets), PostgreSQL. */
  apiUs: number;
  gatewayUs: number;
  postgresUs: number;
  commitsPerCall: number;
  cpu: CpuUse | null;
}

async function measurePublish(rig: Rig): Promise<void> {
  const { ctx } = rig;
  const round = async (kind: "http" | "socket", durationMs: number): Promise<PublishRound> => {
    const [a0, g0, x0, m0] = [await cpuUs(rig.api), await cpuUs(rig.gw), await ctx.commits(), cpuSnapshot()];
    const parts = await Promise.all(
      rig.generators.map((g, k) =>
        kind === "socket"
          ? g.call<RunResult>("send", { durationMs, text: WEBHOOKS.text }, durationMs + 30_000)
          : g.call<RunResult>("publish", { url: String(rig.api.info.url), key: rig.key, chatIds: rig.chatsOf[k], durationMs, text: WEBHOOKS.text }, durationMs + 30_000),
      ),
    );
    const m1 = cpuSnapshot();
    const [a1, g1] = [await cpuUs(rig.api), await cpuUs(rig.gw)];
    await sleep(1_100);
    const x1 = await ctx.commits();
    const r = together(parts);
    const per = Math.max(1, r.done);
    const cpu = cpuUse(m0, m1);
    return {
      kind,
      perSecond: r.done / r.seconds,
      calls: r.done,
      failed: r.failed,
      errors: r.errors,
      p50: r.ackP50,
      apiUs: (a1 - a0) / per,
      gatewayUs: (g1 - g0) / per,
      postgresUs: cpu ? (cpu.postgres * 1e6) / per : NaN,
      commitsPerCall: (x1 - x0 - 1) / per,
      cpu,
    };
  };
  await round("socket", WEBHOOKS.publish.warmMs);
  await round("http", WEBHOOKS.publish.warmMs);
  const rounds: PublishRound[] = [];
  for (let r = 1; r <= WEBHOOKS.publish.rounds; r += 1) {
    for (const kind of r % 2 === 1 ? (["socket", "http"] as const) : (["http", "socket"] as const)) {
      const last = r === WEBHOOKS.publish.rounds && kind === "http";
      const m = last ? await profiled(ctx, rig.api, "api-publish", () => round(kind, WEBHOOKS.publish.roundMs)) : await round(kind, WEBHOOKS.publish.roundMs);
      rounds.push(m);
      ctx.log(
        `webhooks: publish ${kind} round ${r}: ${m.perSecond.toFixed(0)} calls/s, ${m.failed} failed ${JSON.stringify(m.errors)}, p50 ${m.p50.toFixed(1)} ms; ` +
          `CPU per call: api ${m.apiUs.toFixed(0)} µs, gateway ${m.gatewayUs.toFixed(0)} µs, PostgreSQL ${m.postgresUs.toFixed(0)} µs; ${m.commitsPerCall.toFixed(3)} commits each; ${cpuText(m.cpu)}${disturbed(m.cpu) ? " (disturbed)" : ""}`,
      );
    }
  }
  const of = (kind: "http" | "socket") => rounds.filter((x) => x.kind === kind);
  const summaryOf = (kind: "http" | "socket") => medians(of(kind), ["perSecond", "p50", "apiUs", "gatewayUs", "postgresUs", "commitsPerCall"]);
  const http = summaryOf("http");
  const socket = summaryOf("socket");
  const failed = rounds.reduce((a, x) => a + x.failed, 0);
  (ctx.details.webhooks as Record<string, unknown>).publish = { http, socket, concurrency: WEBHOOKS.senders, rounds };
  ctx.row("webhooks.publish", {
    figure:
      `publish calls/s: POST /server/v1/chats/{id}/messages through the api vs message:send over a socket to the gateway (${WEBHOOKS.senders} closed-loop publishers each, ` +
      `keep-alive HTTP vs light sockets, ${WEBHOOKS.chats} chats of 2 sockets, no webhook endpoint), median of ${WEBHOOKS.publish.rounds}`,
    ours: http.perSecond,
    baseline: socket.perSecond,
    unit: "/s",
    ratio: http.perSecond / socket.perSecond,
    valid: failed === 0,
    note:
      `${failed} calls failed; p50 ${http.p50.toFixed(1)} vs ${socket.p50.toFixed(1)} ms; CPU per call: api ${http.apiUs.toFixed(0)} µs + gateway ${http.gatewayUs.toFixed(0)} µs (delivery) ` +
      `vs gateway ${socket.gatewayUs.toFixed(0)} µs (api ${socket.apiUs.toFixed(0)}); PostgreSQL ${http.postgresUs.toFixed(0)} vs ${socket.postgresUs.toFixed(0)} µs ` +
      `and commits ${http.commitsPerCall.toFixed(3)} vs ${socket.commitsPerCall.toFixed(3)} per call (the key lookup and one insert per call vs the gateway's batched insert)`,
  });
}

import { EventEmitter } from "node:events";
import { run, type Runner, type Task, type WorkerEvents } from "graphile-worker";
import { sql } from "kysely";
import type { Pool } from "pg";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { WebhookConfig } from "../../shared/config";
import type { Db } from "../../shared/db/db";
import { findMessage } from "../../shared/db/messages";
import { workerLogger } from "../../shared/db/migrate";
import type { PresenceStore } from "../../shared/presence/presence";
import { findEndpoint, syncEnvEndpoint, wakeDrain, webhookId } from "./endpoints";
import { postWebhook, signedHeaders } from "./delivery";

const HEARTBEAT_MS = 5_000;
/** A pool silent this long is dead: its locked jobs are unlocked. */
const STALE_MS = 30_000;
/** Deliveries one drain sends before it yields to other keys (it is woken again at once). */
const DRAIN_BATCH = 50;
/** How often old rows are cleared (idempotency keys past 24 h, finished deliveries past their keep). */
const SWEEP_MS = 10 * 60_000;
const SWEEP_ROWS = 10_000;

/**
 * Clears what nobody needs any more, a bounded batch at a time: idempotency keys past their 24 h,
 * events whose deliveries all finished more than 7 days ago (dead letters are kept 30 days, for
 * redelivery), and the heartbeats of pools long gone.
 */
export async function sweepOldRows(db: Db): Promise<{ idempotency: number; events: number }> {
  const idempotency = await sql`
    delete from server_idempotency where ctid in (
      select ctid from server_idempotency where created_at < now() - interval '24 hours' limit ${SWEEP_ROWS})`.execute(db);
  const events = await sql`
    delete from webhook_events where id in (
      select ev.id from webhook_events ev
      where ev.created_at < now() - interval '7 days'
        and not exists (select 1 from webhook_deliveries d where d.event_id = ev.id
                        and (d.status = 'pending' or (d.status = 'dead' and d.finished_at > now() - interval '30 days')))
      limit ${SWEEP_ROWS})`.execute(db);
  return { idempotency: Number(idempotency.numAffectedRows ?? 0n), events: Number(events.numAffectedRows ?? 0n) };
}

export interface WebhookWorkerOptions {
  db: Db;
  pool: Pool;
  presence: PresenceStore;
  config: WebhookConfig;
  logger: Logger;
  registry: Registry;
}

export interface WebhookWorker {
  /** Finishes the deliveries in flight and stops. */
  stop(): Promise<void>;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  data: Record<string, unknown>;
  completed: boolean;
  attempts: number;
  next_attempt_at: Date;
  created_at: Date;
  event_created_at: Date;
}

/** The delay before attempt n + 1 after n failures: doubling from the minimum, capped, with jitter (half to whole). */
export function backoffSeconds(failures: number, min: number, max: number, random = Math.random()): number {
  const full = Math.min(max, min * 2 ** Math.min(failures - 1, 30));
  return Math.max(min / 2, full * (0.5 + random / 2));
}

function metricsOf(registry: Registry, db: Db) {
  return {
    attempts: new Counter({ name: "webhook_attempts_total", help: "Webhook delivery attempts by outcome (delivered, failed, dead)", labelNames: ["outcome"] as const, registers: [registry] }),
    latency: new Histogram({ name: "webhook_attempt_seconds", help: "Time of one webhook POST", buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30], registers: [registry] }),
    retrying: new Gauge({
      name: "webhook_retrying",
      help: "Pending deliveries that failed at least once (waiting for their next attempt)",
      registers: [registry],
      async collect() {
        const { rows } = await sql<{ n: string }>`select count(*)::text as n from webhook_deliveries where status = 'pending' and attempts > 0`.execute(db).catch(() => ({ rows: [{ n: "0" }] }));
        this.set(Number(rows[0]?.n ?? 0));
      },
    }),
    oldest: new Gauge({
      name: "webhook_oldest_pending_seconds",
      help: "Age of the oldest pending delivery",
      registers: [registry],
      async collect() {
        const { rows } = await sql<{ age: number | null }>`select extract(epoch from now() - min(created_at))::float8 as age from webhook_deliveries where status = 'pending'`
          .execute(db)
          .catch(() => ({ rows: [{ age: null }] }));
        this.set(rows[0]?.age ?? 0);
      },
    }),
  };
}

/**
 * The webhook worker: graphile-worker runs one `webhook_drain` job per (endpoint, order key) at a
 * time (its queue), and a drain sends that key's pending deliveries in order. A failure keeps the
 * key's later deliveries behind it (per-chat order) and schedules the next attempt with back-off
 * and jitter; past WEBHOOK_RETRY_WINDOW the delivery is dead-lettered and the key moves on. Each
 * endpoint has at most WEBHOOK_ENDPOINT_CONCURRENCY attempts in flight per worker, so a slow
 * endpoint holds its own keys only. Delivery is at least once: a worker killed between the POST
 * and its record sends that delivery again, with the same webhook-id.
 */
export async function startWebhookWorker(options: WebhookWorkerOptions): Promise<WebhookWorker> {
  const { db, config } = options;
  const log = options.logger.child({ module: "webhooks" });
  const metrics = metricsOf(options.registry, db);
  const inFlight = new Map<string, number>();
  await syncEnvEndpoint(db, config.envEndpoint);

  /** message.created is completed on its first look: the message as clients see it, and who was offline. */
  const complete = async (d: DeliveryRow): Promise<Record<string, unknown>> => {
    if (d.completed) return d.data;
    const chatId = String(d.data.chat_id);
    // The message as clients see it (the same view as history), and the chat's members.
    const [message, members] = await Promise.all([
      findMessage(db, String(d.data.message_id)),
      db.selectFrom("chat_members").select("user_id").where("chat_id", "=", chatId).orderBy("joined_at").execute(),
    ]);
    const memberIds = members.map((m) => m.user_id);
    const online = await options.presence.online(chatId, memberIds);
    const data = { message: message ?? null, offline_member_ids: memberIds.filter((id) => !online.has(id)) };
    // Sent as stored (jsonb orders keys its own way): a retry after a crash sends the very same body.
    const { rows: done } = await sql<{ data: Record<string, unknown> }>`
      update webhook_events set data = ${JSON.stringify(data)}::jsonb, completed = true where id = ${d.event_id}::bigint and not completed returning data`.execute(db);
    if (done[0]) return done[0].data;
    // Another worker completed it meanwhile: its version is the one.
    const { rows: kept } = await sql<{ data: Record<string, unknown> }>`select data from webhook_events where id = ${d.event_id}::bigint`.execute(db);
    return kept[0]?.data ?? data;
  };

  const drain: Task = async (payload) => {
    const { endpoint_id: endpointId, order_key: orderKey } = payload as { endpoint_id: string; order_key: string };
    const endpoint = await findEndpoint(db, endpointId);
    if (!endpoint) return;
    if ((inFlight.get(endpointId) ?? 0) >= config.perEndpoint) {
      // This endpoint's share of the worker is busy (a slow receiver): look again in a second.
      return wakeDrain(db, endpointId, orderKey, "replace", new Date(Date.now() + 1_000));
    }
    inFlight.set(endpointId, (inFlight.get(endpointId) ?? 0) + 1);
    try {
      for (let sent = 0; sent < DRAIN_BATCH; sent += 1) {
        const { rows } = await sql<DeliveryRow>`
          select d.id::text, d.event_id::text, ev.type, ev.data, ev.completed, d.attempts, d.next_attempt_at, d.created_at, ev.created_at as event_created_at
          from webhook_deliveries d join webhook_events ev on ev.id = d.event_id
          where d.endpoint_id = ${endpointId} and d.order_key = ${orderKey} and d.status = 'pending'
          order by d.id limit 1`.execute(db);
        const d = rows[0];
        if (!d) return;
        if (d.next_attempt_at.getTime() > Date.now()) return wakeDrain(db, endpointId, orderKey, "replace", d.next_attempt_at);
        const data = await complete(d);
        const body = JSON.stringify({ type: d.type, timestamp: d.event_created_at.toISOString(), data });
        const started = process.hrtime.bigint();
        const attempt = await postWebhook(endpoint.url, signedHeaders(endpoint.secret, webhookId(d.event_id), body), body, { timeoutMs: config.timeout * 1000, allowPrivate: config.allowPrivate });
        metrics.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
        if (attempt.ok) {
          metrics.attempts.inc({ outcome: "delivered" });
          await sql`update webhook_deliveries set status = 'delivered', attempts = attempts + 1, last_status = ${attempt.status ?? null}, last_error = null, finished_at = now()
                    where id = ${d.id}::bigint`.execute(db);
          continue;
        }
        const failures = d.attempts + 1;
        const error = (attempt.error ?? "failed").slice(0, 500);
        if (Date.now() - d.created_at.getTime() >= config.retryWindow * 1000) {
          metrics.attempts.inc({ outcome: "dead" });
          log.warn({ endpoint: endpointId, delivery: d.id, attempts: failures, err: error }, "webhook delivery dead-lettered after its retry window");
          await sql`update webhook_deliveries set status = 'dead', attempts = ${failures}, last_status = ${attempt.status ?? null}, last_error = ${error}, finished_at = now()
                    where id = ${d.id}::bigint`.execute(db);
          continue;
        }
        metrics.attempts.inc({ outcome: "failed" });
        const next = new Date(Date.now() + backoffSeconds(failures, config.retryMin, config.retryMax) * 1000);
        await sql`update webhook_deliveries set attempts = ${failures}, last_status = ${attempt.status ?? null}, last_error = ${error}, next_attempt_at = ${next}
                  where id = ${d.id}::bigint`.execute(db);
        return wakeDrain(db, endpointId, orderKey, "replace", next);
      }
      // More than a batch waiting: yield to the other keys, and come back at once.
      await wakeDrain(db, endpointId, orderKey, "replace");
    } finally {
      inFlight.set(endpointId, (inFlight.get(endpointId) ?? 1) - 1);
    }
  };

  // Heartbeats of the live pools, and the unlocking of the dead ones' jobs (kill -9, a lost host).
  const pools = new Set<string>();
  const events: WorkerEvents = new EventEmitter();
  events.on("pool:create", ({ workerPool }) => void pools.add(workerPool.id));
  events.on("pool:release", ({ workerPool }) => void pools.delete(workerPool.id));
  const runner: Runner = await run({
    pgPool: options.pool,
    events,
    concurrency: config.concurrency,
    noHandleSignals: true,
    pollInterval: 1_000,
    logger: workerLogger(log),
    taskList: { webhook_drain: drain },
  });

  const beat = async () => {
    for (const id of pools) await sql`insert into webhook_workers (pool_id) values (${id}) on conflict (pool_id) do update set heartbeat_at = now()`.execute(db);
    const { rows } = await sql<{ pool_id: string }>`
      delete from webhook_workers where heartbeat_at < now() - make_interval(secs => ${STALE_MS / 1000}) returning pool_id`.execute(db);
    const dead = rows.map((r) => r.pool_id).filter((id) => !pools.has(id));
    if (dead.length > 0) {
      await sql`select graphile_worker.force_unlock_workers(${dead}::text[])`.execute(db);
      log.warn({ pools: dead }, "unlocked the webhook jobs of worker pools that stopped beating");
    }
  };
  const tick = () => void beat().catch((err: Error) => log.warn({ err: err.message }, "webhook worker heartbeat failed"));
  tick();
  const timer = setInterval(tick, HEARTBEAT_MS);
  timer.unref();
  const sweeper = setInterval(
    () => void sweepOldRows(db).catch((err: Error) => log.warn({ err: err.message }, "clearing old webhook and idempotency rows failed")),
    SWEEP_MS,
  );
  sweeper.unref();
  log.info({ concurrency: config.concurrency }, "webhook worker started");

  return {
    async stop() {
      clearInterval(timer);
      clearInterval(sweeper);
      await runner.stop();
      for (const id of pools) await sql`delete from webhook_workers where pool_id = ${id}`.execute(db).catch(() => undefined);
    },
  };
}

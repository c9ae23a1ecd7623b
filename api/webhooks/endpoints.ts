import { createHash, randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { ServerAnswer } from "../../shared/contract/server";
import type { Db } from "../../shared/db/db";

type EndpointView = ServerAnswer<"webhooks">["endpoints"][number];
type DeliveryView = ServerAnswer<"deliveries">["deliveries"][number];

/** A Standard Webhooks secret: whsec_ and 32 random bytes in base64. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

/** The webhook-id of an event (the same on every attempt and redelivery). */
export const webhookId = (eventId: string) => `evt_${eventId}`;

interface EndpointRow {
  id: string;
  url: string;
  secret: string;
  events: string[];
  description: string | null;
  source: "api" | "env";
  created_at: Date;
  disabled_at: Date | null;
}

const view = (r: EndpointRow): EndpointView => ({ id: r.id, url: r.url, events: r.events, description: r.description, source: r.source, created_at: r.created_at.toISOString() });

export async function createEndpoint(db: Db, body: { url: string; events: string[]; description?: string | undefined }): Promise<{ endpoint: EndpointView; secret: string }> {
  const secret = newWebhookSecret();
  const { rows } = await sql<EndpointRow>`
    insert into webhook_endpoints (url, secret, events, description)
    values (${body.url}, ${secret}, ${[...new Set(body.events)]}::text[], ${body.description ?? null})
    returning *`.execute(db);
  return { endpoint: view(rows[0]!), secret };
}

export async function listEndpoints(db: Db): Promise<EndpointView[]> {
  const { rows } = await sql<EndpointRow>`select * from webhook_endpoints where disabled_at is null order by created_at`.execute(db);
  return rows.map(view);
}

/** The endpoint as the worker needs it (with its secret), while enabled. */
export async function findEndpoint(db: Db, id: string): Promise<EndpointRow | undefined> {
  const { rows } = await sql<EndpointRow>`select * from webhook_endpoints where id = ${id} and disabled_at is null`.execute(db);
  return rows[0];
}

/**
 * Deletes an endpoint registered through the API; its deliveries (and dead letters) go with it.
 * False when there is no such endpoint, or it is WEBHOOK_URL's (the configuration owns that one).
 */
export async function deleteEndpoint(db: Db, id: string): Promise<boolean> {
  const res = await sql`delete from webhook_endpoints where id = ${id} and source = 'api'`.execute(db);
  return (res.numAffectedRows ?? 0n) > 0n;
}

/**
 * WEBHOOK_URL / WEBHOOK_SECRET as an endpoint row of its own (source 'env', every type), so that
 * it is delivered, retried and logged like the others. Its id is derived from the URL; a changed
 * URL disables the old row (its log stays) and an unset one disables it too.
 */
export async function syncEnvEndpoint(db: Db, env: { url: string; secret: string } | undefined): Promise<void> {
  const id = env ? uuidOf(`env:${env.url}`) : undefined;
  await db.transaction().execute(async (trx) => {
    await sql`update webhook_endpoints set disabled_at = now() where source = 'env' and disabled_at is null and id is distinct from ${id ?? null}::uuid`.execute(trx);
    if (!env || !id) return;
    await sql`
      insert into webhook_endpoints (id, url, secret, events, source) values (${id}::uuid, ${env.url}, ${env.secret}, '{}', 'env')
      on conflict (id) do update set secret = excluded.secret, disabled_at = null`.execute(trx);
  });
}

/** A UUID (v4 layout) derived from a string: the same URL always names the same row. */
function uuidOf(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  status: "pending" | "delivered" | "dead";
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

const deliveryView = (r: DeliveryRow): DeliveryView => ({
  id: String(r.id),
  webhook_id: webhookId(String(r.event_id)),
  type: r.type,
  status: r.status,
  attempts: r.attempts,
  next_attempt_at: r.status === "pending" ? r.next_attempt_at.toISOString() : null,
  last_status: r.last_status,
  last_error: r.last_error,
  created_at: r.created_at.toISOString(),
  finished_at: r.finished_at?.toISOString() ?? null,
});

/** An endpoint's deliveries, newest first (undefined when there is no such endpoint). */
export async function listDeliveries(db: Db, endpointId: string, q: { status?: string | undefined; limit: number }): Promise<DeliveryView[] | undefined> {
  const { rows: found } = await sql`select 1 from webhook_endpoints where id = ${endpointId}`.execute(db);
  if (found.length === 0) return undefined;
  const { rows } = await sql<DeliveryRow>`
    select d.id::text, d.event_id::text, ev.type, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at
    from webhook_deliveries d join webhook_events ev on ev.id = d.event_id
    where d.endpoint_id = ${endpointId} and (${q.status ?? null}::text is null or d.status = ${q.status ?? null})
    order by d.id desc limit ${q.limit}`.execute(db);
  return rows.map(deliveryView);
}

/**
 * Sends a delivery again (a dead letter, or a delivered one): pending now, with a fresh retry
 * window, and the drain of its key woken. The webhook-id stays the event's.
 */
export async function redeliver(db: Db, endpointId: string, deliveryId: string): Promise<DeliveryView | undefined> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<DeliveryRow & { order_key: string }>`
      update webhook_deliveries d set status = 'pending', next_attempt_at = now(), created_at = now(), finished_at = null
      from webhook_events ev
      where d.id = ${deliveryId}::bigint and d.endpoint_id = ${endpointId} and ev.id = d.event_id
      returning d.id::text, d.event_id::text, ev.type, d.status, d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at, d.order_key`.execute(trx);
    const row = rows[0];
    if (!row) return undefined;
    await wakeDrain(trx, endpointId, row.order_key, "replace");
    return deliveryView(row);
  });
}

/** (Re)schedules the drain job of an endpoint's key (graphile-worker; one per key, run serially). */
export async function wakeDrain(db: Db, endpointId: string, orderKey: string, mode: "replace" | "preserve_run_at", runAt?: Date): Promise<void> {
  const key = `wh:${endpointId}:${orderKey}`;
  await sql`select graphile_worker.add_job('webhook_drain', ${JSON.stringify({ endpoint_id: endpointId, order_key: orderKey })}::json,
    queue_name => ${key}, run_at => ${runAt ?? null}::timestamptz, job_key => ${key}, job_key_mode => ${mode}, max_attempts => 1000)`.execute(db);
}

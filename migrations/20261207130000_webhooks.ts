import { type Kysely, sql } from "kysely";

// Webhooks (server API). A change that raises an event inserts a webhook_events row in its own
// transaction (only while some endpoint wants that type). A statement trigger then fans each new
// event out to a webhook_deliveries row per wanting endpoint and wakes the worker with one
// graphile-worker job per (endpoint, order key): the job drains that key's pending deliveries in
// order (api/webhooks/worker.ts). So an event exists exactly when its cause committed, and a
// delivery is lost only by being delivered or dead-lettered.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("webhook_endpoints")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("url", "text", (c) => c.notNull().check(sql`char_length(url) between 8 and 2048`))
    .addColumn("secret", "text", (c) => c.notNull())
    // Empty: every type.
    .addColumn("events", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn("description", "text")
    // 'api' (registered through the server API) or 'env' (WEBHOOK_URL).
    .addColumn("source", "text", (c) => c.notNull().defaultTo("api"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("disabled_at", "timestamptz")
    .execute();

  await db.schema
    .createTable("webhook_events")
    .addColumn("id", "bigint", (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("type", "text", (c) => c.notNull())
    // Deliveries of one endpoint with the same key go out in event order: a chat's id, or a user's.
    .addColumn("order_key", "text", (c) => c.notNull())
    .addColumn("data", "jsonb", (c) => c.notNull())
    // message.created is completed by the worker's first look (the message, the offline members).
    .addColumn("completed", "boolean", (c) => c.notNull().defaultTo(true))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", "bigint", (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("endpoint_id", "uuid", (c) => c.notNull().references("webhook_endpoints.id").onDelete("cascade"))
    .addColumn("event_id", "bigint", (c) => c.notNull().references("webhook_events.id").onDelete("cascade"))
    .addColumn("order_key", "text", (c) => c.notNull())
    // pending → delivered, or dead (after the retry window); a redelivery makes it pending again.
    .addColumn("status", "text", (c) => c.notNull().defaultTo("pending").check(sql`status in ('pending', 'delivered', 'dead')`))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_status", "integer")
    .addColumn("last_error", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await sql`create index webhook_deliveries_pending_idx on webhook_deliveries (endpoint_id, order_key, id) where status = 'pending'`.execute(db);
  await sql`create index webhook_deliveries_log_idx on webhook_deliveries (endpoint_id, id desc)`.execute(db);
  await sql`create index webhook_deliveries_event_idx on webhook_deliveries (event_id)`.execute(db);

  // The worker pools alive (graphile-worker locks a job by its pool's id): a pool whose heartbeat
  // stopped (kill -9) has its jobs unlocked by the next worker that looks, instead of after
  // graphile-worker's own 4 hours.
  await db.schema
    .createTable("webhook_workers")
    .addColumn("pool_id", "text", (c) => c.primaryKey())
    .addColumn("heartbeat_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await sql`
    create function wsac_webhook_fanout() returns trigger language plpgsql as $$
    begin
      insert into webhook_deliveries (endpoint_id, event_id, order_key)
      select e.id, n.id, n.order_key
      from new_events n
      join webhook_endpoints e on e.disabled_at is null and (cardinality(e.events) = 0 or n.type = any(e.events))
      order by n.id, e.id;
      perform graphile_worker.add_job(
        'webhook_drain',
        json_build_object('endpoint_id', k.endpoint_id, 'order_key', k.order_key),
        queue_name => 'wh:' || k.endpoint_id || ':' || k.order_key,
        job_key => 'wh:' || k.endpoint_id || ':' || k.order_key,
        job_key_mode => 'preserve_run_at',
        max_attempts => 1000
      )
      from (
        select distinct e.id as endpoint_id, n.order_key
        from new_events n
        join webhook_endpoints e on e.disabled_at is null and (cardinality(e.events) = 0 or n.type = any(e.events))
      ) k;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger webhook_events_fanout after insert on webhook_events
    referencing new table as new_events for each statement execute function wsac_webhook_fanout()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger webhook_events_fanout on webhook_events`.execute(db);
  await sql`drop function wsac_webhook_fanout()`.execute(db);
  await db.schema.dropTable("webhook_workers").execute();
  await db.schema.dropTable("webhook_deliveries").execute();
  await db.schema.dropTable("webhook_events").execute();
  await db.schema.dropTable("webhook_endpoints").execute();
}

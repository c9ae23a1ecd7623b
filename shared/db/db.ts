import { Kysely, PostgresDialect } from "kysely";
import { Pool } from "pg";
import type { Logger } from "pino";
import type { Database } from "./schema";

export type Db = Kysely<Database>;

/**
 * A kysely handle on its pool, and a second, small pool for the few hot statements that are named
 * and prepared (the gateway's batched session check and message insert), whose connections plan
 * them once: see GENERIC_PLANS.
 */
export interface DbHandles {
  db: Db;
  /** For the named statements only: every connection plans generic plans. */
  pool: Pool;
  /** Ends both pools. */
  close(): Promise<void>;
}

export interface CreateDbOptions {
  url: string;
  logger: Logger;
  /** The kysely pool's size; default 10. */
  max?: number;
}

/**
 * The named statements' connections plan each statement once (a generic plan) instead of
 * PostgreSQL's default of a custom plan per execution whenever a generic one looks costlier. Both
 * take arrays whose length changes with every batch, so the default re-planned them on every
 * execution. Measured on an idle database, the insert's backend CPU per statement fell from
 * 438-713 to 265-283 µs for 1 row, from 775-900 to 425-450 µs for 10 rows, and from 1,500-1,750 to
 * 1,000-1,125 µs for 50; the session check's fell from 550 to 225-400 µs for 10. Only there: a
 * generic plan cannot match `on conflict … where status = $1` to its partial unique index, so
 * kysely's queries (the api's invites among them) keep the default.
 */
const GENERIC_PLANS = "set plan_cache_mode = force_generic_plan";
/** The named statements' pool: the session check and the message insert each run one statement at a time. */
const STATEMENT_CONNECTIONS = 2;

/**
 * Connection attempts and statements are bounded in time so that a PostgreSQL outage turns into
 * quick `unavailable` answers instead of hanging requests. Pools connect on first use.
 */
export function createDb({ url, logger, max = 10 }: CreateDbOptions): DbHandles {
  const bounded = {
    connectionString: url,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 10_000,
    query_timeout: 12_000,
    application_name: "ws-auth-cluster",
  };
  const queries = new Pool({ ...bounded, max });
  const statements = new Pool({
    ...bounded,
    max: STATEMENT_CONNECTIONS,
    // Awaited before the connection is handed out; a failure fails that checkout like a failed connect.
    onConnect: async (client) => {
      await client.query(GENERIC_PLANS);
    },
  });
  // An idle client losing its server emits here; without a listener that would crash the process.
  for (const pool of [queries, statements]) pool.on("error", (err) => logger.warn({ err: err.message }, "postgres pool client error"));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: queries }) });
  return { db, pool: statements, close: async () => void (await Promise.all([db.destroy(), statements.end()])) };
}

/** True when a `select 1` answers within the pool's timeouts. */
export async function pingDb(db: Db): Promise<boolean> {
  try {
    await db.selectNoFrom((eb) => eb.lit(1).as("one")).execute();
    return true;
  } catch {
    return false;
  }
}

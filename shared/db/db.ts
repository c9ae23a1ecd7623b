import { Kysely, PostgresDialect } from "kysely";
import { Pool } from "pg";
import type { Logger } from "pino";
import type { Database } from "./schema";

export type Db = Kysely<Database>;

/** A kysely handle and the pg pool under it (for the few hot queries that use named, prepared statements). */
export interface DbHandles {
  db: Db;
  pool: Pool;
}

export interface CreateDbOptions {
  url: string;
  logger: Logger;
  /** Pool size; default 10. */
  max?: number;
}

/**
 * A kysely handle on a pg pool. Connection attempts and statements are bounded in time so that a
 * PostgreSQL outage turns into quick `unavailable` answers instead of hanging requests.
 */
export function createDb({ url, logger, max = 10 }: CreateDbOptions): DbHandles {
  const pool = new Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 10_000,
    query_timeout: 12_000,
    application_name: "ws-auth-cluster",
  });
  // An idle client losing its server emits here; without a listener that would crash the process.
  pool.on("error", (err) => logger.warn({ err: err.message }, "postgres pool client error"));
  // A checked-out client losing its server emits on the client itself (graphile-worker holds one for LISTEN).
  pool.on("connect", (client) => client.on("error", (err) => logger.warn({ err: err.message }, "postgres client error")));
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool };
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

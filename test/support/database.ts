import { randomBytes } from "node:crypto";
import pg from "pg";
import pino from "pino";
import { inject } from "vitest";
import type { Pool } from "pg";
import { createDb, type Db } from "../../shared/db/db";
import { migrateToLatest } from "../../shared/db/migrate";

export interface TestDatabase {
  url: string;
  db: Db;
  pool: Pool;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject("pgAdminUrl") });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A handle on a database this file does not own, for a fixture that must see PostgreSQL fail: a
 * dead address, or the test database through a TCP proxy. `drop()` only closes the pool.
 */
export function databaseAt(url: string): TestDatabase {
  const { db, pool } = createDb({ url, logger: pino({ level: "silent" }) });
  return { url, db, pool, drop: () => db.destroy() };
}

/** A fresh, migrated database of its own for one test file, dropped afterwards. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `wsac_test_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`create database ${name}`));
  const url = new URL(inject("pgAdminUrl"));
  url.pathname = `/${name}`;
  const logger = pino({ level: "silent" });
  const { db, pool } = createDb({ url: url.toString(), logger });
  if (options.migrate !== false) await migrateToLatest({ db, pool }, logger);
  return {
    url: url.toString(),
    db,
    pool,
    async drop() {
      await db.destroy();
      await admin((c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/**
 * Holds `lock table <table> in <mode> mode` in a transaction of its own until `release()`: the
 * statements that need the table then wait (a test's way to stop work at a chosen point, or to
 * have a statement to cancel). Releasing ends the transaction and its connection.
 */
export async function holdTableLock(url: string, table: string, mode: "share" | "access exclusive"): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("begin");
  await client.query(`lock table ${pg.escapeIdentifier(table)} in ${mode} mode`);
  return {
    async release() {
      await client.query("rollback");
      await client.end();
    },
  };
}

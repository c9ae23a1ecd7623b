import { Migrator, type MigrationResultSet } from "kysely";
import type { Logger } from "pino";
import { migrations } from "../../migrations";
import type { Db } from "./db";

function migrator(db: Db): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function check(result: MigrationResultSet, logger: Logger): void {
  for (const r of result.results ?? []) logger.info({ migration: r.migrationName, direction: r.direction, status: r.status }, "migration");
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
}

/** Applies every pending migration; concurrent callers are serialised by kysely's migration lock. */
export async function migrateToLatest(db: Db, logger: Logger): Promise<void> {
  check(await migrator(db).migrateToLatest(), logger);
}

/** Reverts the latest migration (used by `npm run migrate -- down`). */
export async function migrateDown(db: Db, logger: Logger): Promise<void> {
  check(await migrator(db).migrateDown(), logger);
}

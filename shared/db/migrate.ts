import { Logger as WorkerLogger, runMigrations } from "graphile-worker";
import { Migrator, type MigrationResultSet } from "kysely";
import type { Logger } from "pino";
import { migrations } from "../../migrations";
import type { Db, DbHandles } from "./db";

function migrator(db: Db): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function check(result: MigrationResultSet, logger: Logger): void {
  for (const r of result.results ?? []) logger.info({ migration: r.migrationName, direction: r.direction, status: r.status }, "migration");
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
}

/** graphile-worker's log lines, on our logger (its debug lines at debug). */
export function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger(() => (level, message, meta) => {
    const fields = { module: "graphile-worker", ...(meta ?? {}) };
    if (level === "error") logger.error(fields, message);
    else if (level === "warning") logger.warn(fields, message);
    else if (level === "info") logger.info(fields, message);
    else logger.debug(fields, message);
  });
}

/**
 * Applies every pending migration: ours (kysely's migration lock serialises concurrent callers),
 * then graphile-worker's own schema (the webhook worker's queue; its migrations take their own lock).
 */
export async function migrateToLatest(handles: DbHandles, logger: Logger): Promise<void> {
  await runMigrations({ pgPool: handles.pool, logger: workerLogger(logger) });
  check(await migrator(handles.db).migrateToLatest(), logger);
}

/** Reverts the latest of our migrations (used by `npm run migrate -- down`); graphile-worker's schema stays. */
export async function migrateDown(db: Db, logger: Logger): Promise<void> {
  check(await migrator(db).migrateDown(), logger);
}

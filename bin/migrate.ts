import { loadConfig } from "../shared/config";
import { createDb } from "../shared/db/db";
import { migrateDown, migrateToLatest } from "../shared/db/migrate";
import { createLogger } from "../shared/logger";

// `npm run migrate` applies every pending migration to DATABASE_URL; `npm run migrate -- down`
// reverts the latest one.
async function main(): Promise<void> {
  const config = loadConfig({ role: "tool" });
  const logger = createLogger({ level: config.logLevel, name: "migrate" });
  if (!config.databaseUrl) throw new Error("DATABASE_URL is not set: npm run migrate needs the database to migrate");
  const { db, pool } = createDb({ url: config.databaseUrl, logger, max: 2 });
  try {
    if (process.argv[2] === "down") await migrateDown(db, logger);
    else await migrateToLatest({ db, pool }, logger);
  } finally {
    await db.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

import { parseArgs } from "node:util";
import { loadConfig } from "../shared/config";
import { createDb } from "../shared/db/db";
import { migrateToLatest } from "../shared/db/migrate";
import { createLogger } from "../shared/logger";
import { createServerKey, listServerKeys, revokeServerKey, SERVER_SCOPES, serverScope } from "../api/server-api/server-keys";
import type { ServerScope } from "../shared/db/schema";

const USAGE = `usage:
  npm run server-key -- create --name NAME --scope ${SERVER_SCOPES.join(",")}
  npm run server-key -- list
  npm run server-key -- revoke ID
Against DATABASE_URL, or npm start's embedded PostgreSQL when it is unset.`;

class UsageError extends Error {}

/** The database: DATABASE_URL, or npm start's embedded one (attached to when it runs, started for the command otherwise). */
async function database(config: ReturnType<typeof loadConfig>, logger: ReturnType<typeof createLogger>): Promise<{ url: string; stop(): Promise<void> }> {
  if (config.databaseUrl) return { url: config.databaseUrl, stop: async () => undefined };
  const { runningEmbeddedPostgres, startEmbeddedPostgres } = await import("../shared/db/embedded-postgres.js");
  const running = runningEmbeddedPostgres(config.dataDir);
  if (running) return { url: running, stop: async () => undefined };
  const pg = await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  return { url: pg.connectionString, stop: () => pg.stop() };
}

function scopesOf(value: string | undefined): ServerScope[] {
  const scopes = (value ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (scopes.length === 0) throw new UsageError(`--scope is required: a comma-separated list of ${SERVER_SCOPES.join(", ")}`);
  for (const s of scopes) if (!serverScope.safeParse(s).success) throw new UsageError(`unknown scope "${s}": the scopes are ${SERVER_SCOPES.join(", ")}`);
  return scopes as ServerScope[];
}

// `npm run server-key -- create|list|revoke`: keys of the server API. A new key is printed once,
// alone on the last line; PostgreSQL keeps only its SHA-256.
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { name: { type: "string" }, scope: { type: "string" } } });
  const [command, id] = positionals;
  if (!command || !["create", "list", "revoke"].includes(command)) throw new UsageError(USAGE);
  if (command === "create" && !/^[\w .:-]{1,64}$/.test(values.name ?? "")) throw new UsageError("--name is required: 1 to 64 letters, digits, spaces or _ . : -");
  const scopes = command === "create" ? scopesOf(values.scope) : [];
  if (command === "revoke" && !id) throw new UsageError("revoke needs the key's id (npm run server-key -- list shows them)");

  const config = loadConfig({ role: "tool" });
  const logger = createLogger({ level: config.logLevel === "info" ? "warn" : config.logLevel, name: "server-key" });
  const pg = await database(config, logger);
  const { db, pool } = createDb({ url: pg.url, logger, max: 2 });
  try {
    await migrateToLatest({ db, pool }, logger);
    if (command === "create") {
      const key = await createServerKey(db, values.name!, scopes);
      process.stdout.write(`created server key ${key.id} "${key.name}" with scopes ${key.scopes.join(",")}; it is shown only now:\n${key.key}\n`);
    } else if (command === "list") {
      for (const k of await listServerKeys(db)) {
        process.stdout.write(`${k.id}  ${k.name}  ${k.scopes.join(",")}  created ${k.created_at}  last used ${k.last_used_at ?? "never"}${k.revoked_at ? `  REVOKED ${k.revoked_at}` : ""}\n`);
      }
    } else {
      if (!/^[0-9a-f-]{36}$/i.test(id!) || !(await revokeServerKey(db, id!.toLowerCase()))) throw new UsageError(`no live server key ${id}`);
      process.stdout.write(`revoked server key ${id}: every api replica refuses it from now on\n`);
    }
  } finally {
    await db.destroy();
    await pg.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);

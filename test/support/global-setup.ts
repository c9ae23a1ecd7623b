import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import pino from "pino";
import type { TestProject } from "vitest/node";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "../../shared/db/embedded-postgres";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
    /** Distinguishes this run, so dist/ is compiled once per run (test/support/build.ts). */
    runId: string;
  }
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * One PostgreSQL server for the whole run: TEST_DATABASE_URL, else the machine's own on
 * 127.0.0.1:5432, else an embedded one started here. Each test file makes its own database on it.
 * Builds the web files first (client/build.mjs).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The api serves dist/public (demo page, client bundle, docs page); esbuild makes it in about a second.
  execFileSync(process.execPath, [join(__dirname, "../../client/build.mjs")], { stdio: "inherit" });
  const candidates = [process.env.TEST_DATABASE_URL, "postgres://postgres@127.0.0.1:5432/postgres"].filter(Boolean) as string[];
  let embedded: EmbeddedPostgresHandle | undefined;
  let dir: string | undefined;
  let url: string | undefined;
  for (const candidate of candidates) if (!url && (await reachable(candidate))) url = candidate;
  if (!url) {
    mkdirSync(tmpdir(), { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "wsac-test-pg-"));
    embedded = await startEmbeddedPostgres({ dataDir: dir, database: "postgres", logger: pino({ level: "silent" }) });
    url = embedded.connectionString;
  }
  project.provide("pgAdminUrl", url);
  project.provide("runId", `${process.pid}-${Date.now()}`);
  return async () => {
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}

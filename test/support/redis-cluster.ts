import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./build";
import { sixPorts } from "./redis-server";

const run = promisify(execFile);
const CLI = process.env.REDIS_CLI_BIN ?? "/usr/bin/redis-cli";

export interface RedisClusterNode {
  port: number;
  /** The node's id in the cluster. */
  id: string;
}

export interface RedisCluster {
  ports: number[];
  /** `REDIS_CLUSTER_NODES`: every node as a seed. */
  seeds: string;
  /** A redis-cli command on one node (its reply, trimmed). */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The hash slot of a key or sharded channel. */
  slotOf(key: string): Promise<number>;
  /** The master that serves a slot now. */
  masterOf(slot: number): Promise<RedisClusterNode>;
  masters(): Promise<RedisClusterNode[]>;
  /** `kill -9` of one node (its replica takes over after the node timeout, about 1 s, plus an election). */
  kill(port: number): Promise<void>;
  /** Moves one slot (and its keys) from its master to another, with the CLUSTER SETSLOT steps of a live reshard. */
  moveSlot(slot: number, to: RedisClusterNode): Promise<void>;
  /** Resolves once every live node reports cluster_state:ok and agrees on who serves `slot` (bounded). */
  settled(slot?: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of the test's own (3 masters, 3 replicas, node timeout 1 s) started by
 * bin/redis-cluster.sh on free loopback ports, so that a test may kill or reshard it.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const ports = await sixPorts();
  const dir = mkdtempSync(join(tmpdir(), "wsac-redis-cluster-"));
  const env = { ...process.env, REDIS_CLUSTER_DIR: dir };
  const script = join(ROOT, "bin/redis-cluster.sh");
  await run("bash", [script, "start", ...ports.map(String)], { env, timeout: 60_000 });
  const killed = new Set<number>();
  const cli = async (port: number, ...args: string[]) => (await run(CLI, ["-p", String(port), ...args], { timeout: 10_000 })).stdout.trim();
  const live = () => ports.filter((p) => !killed.has(p));
  const nodes = async () => {
    const text = await cli(live()[0]!, "cluster", "nodes");
    return text.split("\n").map((line) => {
      const [id, addr, flags, , , , , , ...slots] = line.split(" ");
      return { id: id!, port: Number(addr!.split(":")[1]!.split("@")[0]), flags: flags!.split(","), slots };
    });
  };
  const masters = async () => (await nodes()).filter((n) => n.flags.includes("master") && !n.flags.includes("fail") && !killed.has(n.port));
  const owns = (slots: string[], slot: number) =>
    slots.some((range) => {
      if (range.startsWith("[")) return false;
      const [a, b] = range.split("-").map(Number);
      return slot >= a! && slot <= (b ?? a!);
    });
  const masterOf = async (slot: number) => {
    const found = (await masters()).find((n) => owns(n.slots, slot));
    if (!found) throw new Error(`no master serves slot ${slot}`);
    return { port: found.port, id: found.id };
  };
  const settled = async (slot?: number, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const infos = await Promise.all(live().map((p) => cli(p, "cluster", "info")));
        if (infos.every((i) => i.includes("cluster_state:ok"))) {
          if (slot === undefined) return;
          const views = await Promise.all(live().map(async (p) => (await cli(p, "cluster", "slots")).length > 0 && (await masterOfFrom(p, slot))));
          if (views.every((v) => v === views[0] && v !== false)) return;
        }
      } catch {
        // a node is restarting its view: try again
      }
      if (Date.now() > deadline) throw new Error(`the Redis Cluster did not settle within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const masterOfFrom = async (port: number, slot: number) => {
    const text = await cli(port, "cluster", "nodes");
    for (const line of text.split("\n")) {
      const [, addr, flags, , , , , , ...slots] = line.split(" ");
      if (flags!.includes("master") && !flags!.includes("fail") && owns(slots, slot)) return addr!.split("@")[0]!;
    }
    return false;
  };
  return {
    ports,
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(","),
    cli,
    slotOf: async (key) => Number(await cli(live()[0]!, "cluster", "keyslot", key)),
    masterOf,
    masters: async () => (await masters()).map((n) => ({ port: n.port, id: n.id })),
    async kill(port) {
      const pid = Number(readFileSync(join(dir, String(port), "redis.pid"), "utf8").trim());
      killed.add(port);
      process.kill(pid, "SIGKILL");
    },
    async moveSlot(slot, to) {
      const from = await masterOf(slot);
      if (from.id === to.id) return;
      await cli(to.port, "cluster", "setslot", String(slot), "importing", from.id);
      await cli(from.port, "cluster", "setslot", String(slot), "migrating", to.id);
      for (let i = 0; i < 1_000; i += 1) {
        const keys = (await cli(from.port, "cluster", "getkeysinslot", String(slot), "100")).split("\n").filter(Boolean);
        if (keys.length === 0) break;
        await cli(from.port, "migrate", "127.0.0.1", String(to.port), "", "0", "5000", "keys", ...keys);
      }
      // The new owner first, then the old one, then everyone else (as redis-cli --cluster reshard does).
      for (const port of [to.port, from.port, ...live().filter((p) => p !== to.port && p !== from.port)]) {
        await cli(port, "cluster", "setslot", String(slot), "node", to.id).catch(() => undefined);
      }
    },
    settled,
    async stop() {
      await run("bash", [script, "stop", ...ports.map(String)], { env, timeout: 30_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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

export interface RedisClusterOptions {
  /** Who `seeds` (REDIS_CLUSTER_NODES) lists: every node (the default), or only the three masters at start. */
  seeds?: "all" | "masters";
}

export interface RedisCluster {
  ports: number[];
  /** `REDIS_CLUSTER_NODES`: every node as a seed, or the masters at start (see RedisClusterOptions). */
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
  /**
   * Resolves once the cluster is whole again after a kill (bounded): every live node reports
   * cluster_state:ok and sees all 16384 slots served by live masters, so a killed master's slots
   * are served by its promoted replica.
   */
  whole(timeoutMs?: number): Promise<void>;
  /**
   * Drops every client connection on every live node, as a network blip would (clients reconnect
   * from scratch, a cluster client through its startup nodes); replication links stay.
   */
  dropClients(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of the test's own (3 masters, 3 replicas, node timeout 1 s) started by
 * bin/redis-cluster.sh on free loopback ports, so that a test may kill or reshard it.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const ports = await sixPorts();
  const dir = mkdtempSync(join(tmpdir(), "wsac-redis-cluster-"));
  const env = { ...process.env, REDIS_CLUSTER_DIR: dir };
  const script = join(ROOT, "bin/redis-cluster.sh");
  await run("bash", [script, "start", ...ports.map(String)], { env, timeout: 60_000 });
  const killed = new Set<number>();
  const cli = async (port: number, ...args: string[]) => (await run(CLI, ["-p", String(port), ...args], { timeout: 10_000 })).stdout.trim();
  const live = () => ports.filter((p) => !killed.has(p));
  /** One node's `CLUSTER NODES` view. */
  const nodesFrom = async (port: number) =>
    (await cli(port, "cluster", "nodes")).split("\n").map((line) => {
      const [id, addr, flags, , , , , , ...slots] = line.split(" ");
      return { id: id!, port: Number(addr!.split(":")[1]!.split("@")[0]), flags: flags!.split(","), slots };
    });
  const nodes = () => nodesFrom(live()[0]!);
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
  /** Slots in `slots` (ranges "a-b" or single slots; "[…]" marks a slot being migrated). */
  const slotCount = (slots: string[]) =>
    slots.reduce((sum, range) => {
      if (range.startsWith("[")) return sum;
      const [a, b] = range.split("-").map(Number);
      return sum + (b ?? a!) - a! + 1;
    }, 0);
  const whole = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const views = await Promise.all(
          live().map(async (p) => {
            if (!(await cli(p, "cluster", "info")).includes("cluster_state:ok")) return false;
            const serving = (await nodesFrom(p)).filter((n) => n.flags.includes("master") && !n.flags.some((f) => f.startsWith("fail")) && !killed.has(n.port));
            return serving.reduce((sum, n) => sum + slotCount(n.slots), 0) === 16_384;
          }),
        );
        if (views.every(Boolean)) return;
      } catch {
        // a node is changing its view: try again
      }
      if (Date.now() > deadline) throw new Error(`the Redis Cluster was not whole again within ${timeoutMs} ms`);
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
  const seedPorts = options.seeds === "masters" ? (await masters()).map((n) => n.port) : ports;
  return {
    ports,
    seeds: seedPorts.map((p) => `127.0.0.1:${p}`).join(","),
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
    whole,
    async dropClients() {
      // Both types: Redis counts a subscriber as "pubsub" on RESP2 and as "normal" on RESP3.
      for (const port of live()) for (const type of ["normal", "pubsub"]) await cli(port, "client", "kill", "type", type);
    },
    async stop() {
      await run("bash", [script, "stop", ...ports.map(String)], { env, timeout: 30_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

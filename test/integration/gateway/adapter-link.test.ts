import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdapterWiring, wireRedisAdapter } from "../../../gateway/redis/adapter";
import { type Cluster, createRedisCluster } from "../../../shared/redis/clients";
import { type RedisCluster, startRedisCluster } from "../../support/redis-cluster";
import { eventually } from "../../support/waits";

/**
 * The sharded adapter's subscriber link, which the outage replay follows (a link down, then up:
 * messages stored meanwhile are re-sent from PostgreSQL), on a Redis Cluster of the test's own
 * (3 masters, 3 replicas; every node a seed, as REDIS_CLUSTER_NODES lists them).
 */
let redisCluster: RedisCluster;
const clients: Cluster[] = [];
const logger = pino({ level: "silent" });

beforeAll(async () => {
  redisCluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redisCluster?.stop();
});

/** A gateway's adapter wiring on the cluster; every link report, in order, and every node its subscriber dropped. */
function wire(): { reports: boolean[]; dropped: unknown[]; wiring: AdapterWiring } {
  const target = { kind: "cluster" as const, nodes: redisCluster.ports.map((port) => ({ host: "127.0.0.1", port })) };
  const sub = createRedisCluster(target, { logger, name: "link-sub", offlineQueue: true, sharded: true });
  const pub = createRedisCluster(target, { logger, name: "link-pub" });
  clients.push(sub, pub);
  const wiring = wireRedisAdapter({ clients: { sharded: true, pub, sub }, logger, onPublishFailed: () => undefined });
  const reports: boolean[] = [];
  wiring.onSubscriberLink((up) => reports.push(up));
  const dropped: unknown[] = [];
  sub.on("-node", (node: unknown) => dropped.push(node));
  return { reports, dropped, wiring };
}

describe("the sharded subscriber's link", () => {
  it("comes up once at start: the client dropping the seeds that are replicas is no outage", async () => {
    const { reports, dropped } = wire();
    // The client drops the 3 replica seeds about 50 ms in: taken for an outage, each drop would have
    // reported the link down at once (and up again a second later).
    await eventually(() => reports.length > 0 && dropped.length === 3, 5_000, "a first report, and the 3 replica seeds dropped");
    expect(reports).toEqual([true]);
  });

  it("stays up while a slot refresh times out on every node: its subscriptions never left", async () => {
    const { reports, wiring } = wire();
    await eventually(() => reports.length > 0, 5_000, "a first report");
    const refreshFailures: string[] = [];
    wiring.sub.on("node error", (err: Error) => refreshFailures.push(err.message));
    // Every node holds its clients' commands for 7 s: the periodic refresh (every 5 s) waits 2 s
    // for CLUSTER SLOTS on one node after another, and fails on them; the subscriber connections
    // are idle and stay open.
    await Promise.all(redisCluster.ports.map((port) => redisCluster.cli(port, "client", "pause", "7000", "all")));
    await eventually(() => refreshFailures.length > 0, 10_000, "a slot refresh to time out");
    await eventually(async () => (await Promise.all(redisCluster.ports.map((port) => redisCluster.cli(port, "ping")))).every((r) => r === "PONG"), 10_000, "the pause to end");
    expect(refreshFailures[0]).toMatch(/timeout/i);
    expect(reports).toEqual([true]);
  }, 30_000);

  it("goes down when a master dies, and up once the cluster answers again", async () => {
    const { reports } = wire();
    await eventually(() => reports.length > 0, 5_000, "a first report");
    const [victim] = await redisCluster.masters();
    await redisCluster.kill(victim!.port);
    await eventually(() => reports.length >= 3, 20_000, "down and up again");
    expect(reports.slice(0, 3)).toEqual([true, false, true]);
  }, 30_000);
});

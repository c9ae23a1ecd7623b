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

  it("goes down when a master dies, and up once the cluster answers again", async () => {
    const { reports } = wire();
    await eventually(() => reports.length > 0, 5_000, "a first report");
    const [victim] = await redisCluster.masters();
    await redisCluster.kill(victim!.port);
    await eventually(() => reports.length >= 3, 20_000, "down and up again");
    expect(reports.slice(0, 3)).toEqual([true, false, true]);
  }, 30_000);
});

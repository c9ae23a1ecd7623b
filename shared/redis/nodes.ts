import type { Cluster, Redis } from "ioredis";

export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

const keyOf = (node: NodeAddress) => `${node.host}:${node.port}`;
const addressOf = (redis: Redis): NodeAddress => ({ host: redis.options.host ?? "127.0.0.1", port: redis.options.port ?? 6379 });

/**
 * The nodes of one Redis Cluster that a process's clients reconnect through: those the last
 * topology listed (as any of its Cluster clients saw it), then the seeds (REDIS_CLUSTER_NODES).
 * The seeds alone are not enough: once failovers have replaced every node they name, a client that
 * reconnects from scratch through them never finds the cluster again. One per target and process,
 * shared by all of its clients (made by the composition root).
 *
 * ioredis reads a Cluster's startup nodes again at every full reconnect, from the very array given
 * to `new Cluster(…)` (it keeps the reference and has no setter), so the arrays handed out here
 * are kept current in place. test/integration/gateway/redis-cluster-seeds.test.ts fails if an
 * ioredis upgrade starts copying it.
 */
export class KnownNodes {
  private learned: NodeAddress[] = [];
  /** The startup arrays of the Cluster clients still open. */
  private readonly startups = new Set<NodeAddress[]>();

  constructor(private readonly seeds: readonly NodeAddress[]) {}

  /** Learned nodes first, then the seeds, each once. */
  list(): NodeAddress[] {
    const nodes = new Map<string, NodeAddress>();
    for (const node of [...this.learned, ...this.seeds]) if (!nodes.has(keyOf(node))) nodes.set(keyOf(node), { host: node.host, port: node.port });
    return [...nodes.values()];
  }

  /** A Cluster client made by `create` on a startup list kept current, and whose view of the topology feeds this one. */
  cluster(create: (startupNodes: NodeAddress[]) => Cluster): Cluster {
    const startup = this.list();
    this.startups.add(startup);
    const client = create(startup);
    // Emitted after each CLUSTER SLOTS answer was applied: the pool then holds exactly the nodes
    // it listed (the replicas too, but for one that has not replicated anything yet).
    client.on("refresh", () => this.replace(client.nodes("all").map(addressOf)));
    // A node met between refreshes (a MOVED target). While connecting, the pool is only being
    // filled with the startup list itself (dead nodes included), which teaches nothing.
    client.on("+node", (redis: Redis) => {
      if (client.status === "ready") this.add(addressOf(redis));
    });
    client.once("end", () => this.startups.delete(startup));
    return client;
  }

  private replace(nodes: NodeAddress[]): void {
    const keys = (list: NodeAddress[]) => list.map(keyOf).sort().join(",");
    // Every refresh lands here (each client's, every slotsRefreshInterval): most change nothing.
    if (nodes.length === 0 || keys(nodes) === keys(this.learned)) return;
    this.learned = nodes;
    this.update();
  }

  private add(node: NodeAddress): void {
    if (this.learned.some((n) => keyOf(n) === keyOf(node))) return;
    this.learned = [...this.learned, node];
    this.update();
  }

  private update(): void {
    const list = this.list();
    for (const startup of this.startups) startup.splice(0, startup.length, ...list.map((n) => ({ ...n })));
  }
}

/**
 * The cluster phase's view of sharded Pub/Sub on its Redis Cluster: how many sharded-channel
 * subscriptions each gateway holds, and on how many channels.
 */
import { type Child, sleep } from "./ipc";
import { type BenchRedisCluster, clientList } from "./redis-cluster";

/** Sharded-channel subscriptions on the Redis Cluster: per gateway (CLIENT LIST `ssub` of its connections, named gateway-<pid>:…), and per channel (PUBSUB SHARDCHANNELS, SHARDNUMSUB on every master). */
export interface ShardSubs {
  /** Σ ssub over every connection to every node. */
  total: number;
  perGateway: Record<string, number>;
  /** Subscriptions on connections no gateway's name matched. */
  unattributed: number;
  /** Distinct sharded channels with a subscriber, over the masters; and Σ SHARDNUMSUB of them. */
  channels: number;
  numsub: number;
  /** How many of those channels are chat rooms (`wsac:io#/#chat:…#`). */
  chatChannels: number;
}

async function shardSubs(cl: BenchRedisCluster, gws: Child[]): Promise<ShardSubs> {
  const out: ShardSubs = { total: 0, perGateway: Object.fromEntries(gws.map((g) => [g.name, 0])), unattributed: 0, channels: 0, numsub: 0, chatChannels: 0 };
  for (const port of cl.ports) {
    for (const c of await clientList(port).catch(() => [])) {
      const n = Number(c.ssub ?? 0);
      if (!n) continue;
      out.total += n;
      const g = gws.find((x) => (c.name ?? "").includes(`gateway-${x.info.pid}:`));
      if (g) out.perGateway[g.name]! += n;
      else out.unattributed += n;
    }
  }
  for (const port of await cl.masters()) {
    const list = (await cl.cli(port, "pubsub", "shardchannels")).split("\n").filter(Boolean);
    out.channels += list.length;
    out.chatChannels += list.filter((c) => c.startsWith("wsac:io#/#chat:")).length;
    for (let i = 0; i < list.length; i += 200) {
      const lines = (await cl.cli(port, "pubsub", "shardnumsub", ...list.slice(i, i + 200))).split("\n");
      for (let k = 1; k < lines.length; k += 2) out.numsub += Number(lines[k]);
    }
  }
  return out;
}

/** Sharded subscriptions once they stop changing (two equal reads 300 ms apart; `until` may end it early), bounded to `ms`. */
export async function settledSubs(cl: BenchRedisCluster, gws: Child[], until: (s: ShardSubs) => boolean = () => false, ms = 6_000): Promise<ShardSubs> {
  const deadline = Date.now() + ms;
  let last = await shardSubs(cl, gws);
  for (let i = 0; i < 40 && Date.now() < deadline && !until(last); i += 1) {
    await sleep(300);
    const next = await shardSubs(cl, gws);
    const same = next.total === last.total && next.numsub === last.numsub;
    last = next;
    if (same) break;
  }
  return last;
}

export const subsText = (s: ShardSubs) =>
  `${s.total} subscriptions (${Object.entries(s.perGateway)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}${s.unattributed ? `, unattributed ${s.unattributed}` : ""}), ${s.channels} channels (${s.chatChannels} chat rooms), Σ SHARDNUMSUB ${s.numsub}`;

/**
 * The capacity model (issue 11, item 4): the per-unit costs this run measured, projected to
 * 1M connections, 100k messages/s into rooms of 10 (1M deliveries/s), and a reconnect storm of
 * 1M clients within 60 s. Nothing here is typed in but the scenario and the deployment unit
 * (`UNIT`); every cost comes from `results.details` of the same run, and a figure whose phase did
 * not run is reported as not measured (its projection left out).
 *
 * Reads: details.capacity (memory phase: memory, and its last big step's CPU per fresh join), details.handshakes (handshake phase), details.fanout
 * (fan-out phase: rooms["10"]), details.stored (stored phase: gateway, PostgreSQL and Redis per
 * message, Redis per join).
 */

/** What is projected. */
export const SCENARIO = {
  connections: 1_000_000,
  messagesPerSecond: 100_000,
  room: 10,
  reconnects: 1_000_000,
  reconnectWindowS: 60,
  /**
   * socket.io-client's back-off (reconnectionDelay 1 s, randomizationFactor 0.5) spreads the first
   * attempts of clients cut at once over about a second, and later ones over the window; as the
   * storm's peak we take twice its mean. An assumption, not a measurement.
   */
  peakToMean: 2,
};

/**
 * The deployment unit the counts are in: a gateway is one Node.js process (one core's worth of
 * JavaScript), run two per 2-core pod as pm2 does; each kept below 70 % of its core and below
 * 1.5 GiB of RSS. PostgreSQL and Redis cores at 70 % too.
 */
export const UNIT = { busy: 0.7, gatewayRssBytes: 1.5 * 2 ** 30, gatewaysPerPod: 2, heartbeatIntervalS: 25 };

/** Centrifugo's published run, for comparison (their blog: 1M connections on Kubernetes). */
export const CENTRIFUGO = { connections: 1_000_000, pods: 20, cpusPerPod: 2, bytesPerConnection: 30 * 1024, deliveriesPerSecond: 500_000, p99Ms: 200 };

type Any = Record<string, any>;

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : null;
};

export interface Inputs {
  rssPerConnection: number | null;
  heapPerConnection: number | null;
  connectionsMeasured: number | null;
  cpuUsPerHandshake: number | null;
  bareCpuUsPerHandshake: number | null;
  queriesPerHandshake: number | null;
  postgresUsPerHandshake: number | null;
  cpuUsPerDelivery: number | null;
  deliveryRoom: number | null;
  /** Gateway CPU per delivery by one gateway's message rate (msg/s), lowest rate first: see deliveryCosts. */
  deliveryCosts: RatedCost[];
  /** The server's CPU per heartbeat of an idle connection (memory phase's hold), or null: then costed as a delivery. */
  cpuUsPerHeartbeat: number | null;
  cpuUsPerMessageIn: number | null;
  postgresUsPerMessage: number | null;
  commitsPerMessage: number | null;
  redisCommandsPerMessage: number | null;
  redisBytesPerMessage: number | null;
  redisUsPerMessage: number | null;
  redisCommandsPerJoin: number | null;
  redisBytesPerJoin: number | null;
  /** Gateway CPU per handshake of a user new to its chat (announced to the chat's others), and how many were online per chat. */
  freshJoinCpuUsPerHandshake: number | null;
  freshJoinChatOnline: number | null;
}

/** A gateway's CPU per delivery measured at one message rate. */
export interface RatedCost {
  rate: number;
  usPerDelivery: number;
  from: string;
}

/**
 * CPU per delivery by the gateway's message rate: what a message costs falls as the rate rises
 * (a statement, a Redis round trip and a turn of the event loop carry more messages), four to five
 * times from 800 to 6,000 msg/s in rooms of 10. The fan-out ladder's sustained steps in rooms of 10;
 * below its lowest, the quiet rates (rooms of 20) priced per message and spread over 10 deliveries:
 * an upper bound for rooms of 10, whose message carries fewer deliveries' worth of work.
 */
export function deliveryCosts(details: Any): RatedCost[] {
  const room10: Any | undefined = details.fanout?.rooms?.[String(SCENARIO.room)];
  const ladder: RatedCost[] = ((room10?.ours?.steps ?? []) as Any[])
    .filter((s) => s.ok && Number.isFinite(s.gatewayCpuUsPerDelivery))
    .map((s) => ({ rate: s.offered as number, usPerDelivery: s.gatewayCpuUsPerDelivery as number, from: `fan-out ladder, rooms of ${SCENARIO.room}` }));
  const lowest = Math.min(...ladder.map((c) => c.rate));
  const quiet: Any | undefined = details.fanout?.quiet;
  const quietCosts: RatedCost[] = Object.entries((quiet?.rates ?? {}) as Record<string, Any>)
    .filter(([rate, r]) => Number(rate) < lowest && r.ours?.messages > 0)
    .map(([rate, r]) => ({ rate: Number(rate), usPerDelivery: r.ours.cpuUs / r.ours.messages / SCENARIO.room, from: `quiet rate, rooms of ${quiet!.room} per message / ${SCENARIO.room}` }));
  // One figure per rate (a ladder may step on a rate twice): their mean.
  const byRate = new Map<number, RatedCost[]>();
  for (const c of [...quietCosts, ...ladder]) byRate.set(c.rate, [...(byRate.get(c.rate) ?? []), c]);
  return [...byRate.entries()]
    .map(([rate, cs]) => ({ rate, usPerDelivery: cs.reduce((a, c) => a + c.usPerDelivery, 0) / cs.length, from: cs[0]!.from }))
    .sort((a, b) => a.rate - b.rate);
}

/** The cost at `rate`: interpolated between the two measured rates around it (on a log scale of rates), the nearest end's outside them. */
export function costAt(costs: RatedCost[], rate: number): number | null {
  if (costs.length === 0 || !(rate > 0)) return null;
  if (rate <= costs[0]!.rate) return costs[0]!.usPerDelivery;
  const last = costs[costs.length - 1]!;
  if (rate >= last.rate) return last.usPerDelivery;
  const k = costs.findIndex((c) => c.rate >= rate);
  const [a, b] = [costs[k - 1]!, costs[k]!];
  const t = Math.log(rate / a.rate) / Math.log(b.rate / a.rate);
  return a.usPerDelivery + t * (b.usPerDelivery - a.usPerDelivery);
}

/** The measured per-unit costs, from one run's details. */
export function inputsOf(details: Any): Inputs {
  const steps: Any[] = details.capacity?.ours?.steps ?? [];
  const last = steps.length ? steps.reduce((a, b) => (b.total > a.total ? b : a)) : undefined;
  const hs: Any[] = details.handshakes?.rounds?.ours ?? [];
  const hsBare: Any[] = details.handshakes?.rounds?.bare ?? [];
  const perRound = details.handshakes?.connectionsPerRound as number | undefined;
  const room10: Any | undefined = details.fanout?.rooms?.[String(SCENARIO.room)];
  const fanStep: Any | undefined = room10?.ours?.atLatencyRate ?? room10?.ours?.sustained;
  const stored: Any | undefined = details.stored?.ours;
  const join: Any | undefined = details.stored?.redisPerJoin;
  // The memory phase's last step of 1,000 handshakes or more: fresh users into chats that are filling.
  const big = steps.filter((s, k) => s.cpuUsPerHandshake !== undefined && s.total - (k > 0 ? steps[k - 1]!.total : 0) >= 1_000).at(-1);
  const chats = details.capacity?.chats as number | undefined;
  return {
    rssPerConnection: last?.rssPerConn ?? null,
    heapPerConnection: last?.heapPerConn ?? null,
    connectionsMeasured: last?.total ?? null,
    cpuUsPerHandshake: median(hs.map((r) => r.cpuUsPerHandshake)),
    bareCpuUsPerHandshake: median(hsBare.map((r) => r.cpuUsPerHandshake)),
    queriesPerHandshake: median(hs.map((r) => r.queriesPerHandshake)),
    postgresUsPerHandshake: perRound ? median(hs.map((r) => (r.cpu ? (r.cpu.postgres * 1e6) / perRound : NaN))) : null,
    cpuUsPerDelivery: fanStep?.gatewayCpuUsPerDelivery ?? null,
    deliveryRoom: room10 ? SCENARIO.room : null,
    deliveryCosts: deliveryCosts(details),
    cpuUsPerHeartbeat: details.capacity?.ours?.hold?.cpuUsPerHeartbeat ?? null,
    cpuUsPerMessageIn: stored?.gatewayUsPerMessage ?? null,
    postgresUsPerMessage: stored?.postgresUsPerMessage ?? null,
    commitsPerMessage: stored?.commitsPerMessage ?? null,
    redisCommandsPerMessage: stored?.redisPerMessage?.commands ?? null,
    redisBytesPerMessage: stored ? stored.redisPerMessage.inBytes + stored.redisPerMessage.outBytes : null,
    redisUsPerMessage: stored?.redisPerMessage?.cpuUs ?? null,
    redisCommandsPerJoin: join?.commands ?? null,
    redisBytesPerJoin: join ? join.inBytes + join.outBytes : null,
    freshJoinCpuUsPerHandshake: big?.cpuUsPerHandshake ?? null,
    freshJoinChatOnline: big && chats ? big.total / chats : null,
  };
}

const fmt = (x: number | null, digits = 0, unit = "") => (x === null || !Number.isFinite(x) ? "not measured" : `${x.toFixed(digits)}${unit}`);
const KiB = (b: number | null) => (b === null ? "not measured" : `${(b / 1024).toFixed(1)} KiB`);
const up = (x: number) => Math.max(1, Math.ceil(x));
const coresFor = (usPerUnit: number | null, perSecond: number) => (usPerUnit === null ? null : (usPerUnit * perSecond) / 1e6 / UNIT.busy);

/** The model as markdown lines (two tables and the reading), and its figures for the results file. */
export function capacityModel(details: Any): { lines: string[]; figures: Any } {
  const i = inputsOf(details);
  const S = SCENARIO;
  // 1M connections: memory, and the heartbeats they answer.
  const memGateways = i.rssPerConnection === null ? null : up((S.connections * i.rssPerConnection) / UNIT.gatewayRssBytes);
  const heartbeatsPerSecond = S.connections / UNIT.heartbeatIntervalS;
  // A heartbeat is one small packet each way: the memory phase's hold measures it (the server's whole
  // CPU over idle connections); without it, costed as one delivery.
  const heartbeatUs = i.cpuUsPerHeartbeat ?? i.cpuUsPerDelivery;
  const heartbeatCores = coresFor(heartbeatUs, heartbeatsPerSecond);
  // The storm: clients of dead gateways (or cut off) come back through the balancer to gateways that
  // have not seen their tokens: each handshake verifies its token, reads its session and joins its
  // chat afresh. The scale run's kill -9 measured such reconnects at the memory phase's fresh
  // handshakes' cost (docs/scale.md), not at the handshake phase's (the same users back on the
  // same gateway, their tokens and sessions known there: the storm's lower bound).
  const stormMean = S.reconnects / S.reconnectWindowS;
  const stormPeak = stormMean * S.peakToMean;
  const stormUs = i.freshJoinCpuUsPerHandshake ?? i.cpuUsPerHandshake;
  const gatewayCoresStorm = coresFor(stormUs, stormPeak);
  const gatewayCoresSameGatewayStorm = coresFor(i.cpuUsPerHandshake, stormPeak);
  // 100k messages/s into rooms of 10.
  const deliveries = S.messagesPerSecond * S.room;
  // The fan-out phase's CPU per delivery is the gateway's whole CPU over its deliveries: the messages'
  // own cost (validate, check, store, publish, ack: one per room's worth) is already in it.
  const gatewayCoresSaturated = coresFor(i.cpuUsPerDelivery, deliveries);
  // Priced at the rate each gateway then sees: the scenario's messages spread over the gateways it
  // takes, which depend on that price. From the gateways memory and the storm need, add gateways
  // until the traffic fits (more gateways, fewer messages each, each dearer).
  const floor = Math.max(1, memGateways ?? 1, gatewayCoresStorm === null ? 1 : up(gatewayCoresStorm));
  let trafficGateways: number | null = null;
  let ratePerGateway: number | null = null;
  let pricedUs: number | null = null;
  if (i.deliveryCosts.length > 0) {
    let g = floor;
    for (let k = 0; k < 200; k += 1) {
      const rate = S.messagesPerSecond / g;
      const us = costAt(i.deliveryCosts, rate)!;
      const need = up(coresFor(us, deliveries)! + (heartbeatCores ?? 0));
      [ratePerGateway, pricedUs] = [rate, us];
      if (need <= g) {
        trafficGateways = g;
        break;
      }
      g = need;
    }
  }
  const gatewayCoresTraffic = pricedUs === null ? gatewayCoresSaturated : coresFor(pricedUs, deliveries);
  const pgCoresMessages = coresFor(i.postgresUsPerMessage, S.messagesPerSecond);
  const redisCoresMessages = coresFor(i.redisUsPerMessage, S.messagesPerSecond);
  const commitsPerSecond = i.commitsPerMessage === null ? null : i.commitsPerMessage * S.messagesPerSecond;
  const pgCoresStorm = coresFor(i.postgresUsPerHandshake, stormPeak);
  const queriesStorm = i.queriesPerHandshake === null ? null : i.queriesPerHandshake * stormPeak;

  const traffic = trafficGateways ?? (gatewayCoresTraffic === null ? null : up(gatewayCoresTraffic + (heartbeatCores ?? 0)));
  const gateways = [memGateways, traffic, gatewayCoresStorm === null ? null : up(gatewayCoresStorm)].filter((x): x is number => x !== null);
  const need = gateways.length ? Math.max(...gateways) : null;
  const bound =
    need === null ? "not measured" : need === memGateways ? "memory (RSS per connection)" : need === traffic ? "CPU for deliveries" : "CPU for the reconnect storm's handshakes";
  /** One Redis serves about one core of commands; the sharded adapter spreads rooms over a cluster's masters. */
  const redisShards = redisCoresMessages === null ? null : up(redisCoresMessages);
  const pgCores = [pgCoresMessages, pgCoresStorm].filter((x): x is number => x !== null);

  const lines = [
    "Capacity model (computed from this run's figures; the scenario and the deployment unit are the only typed-in numbers):",
    "",
    "| measured per unit | figure | from |",
    "| --- | --- | --- |",
    `| memory per connection (RSS; heap) | ${KiB(i.rssPerConnection)}; ${KiB(i.heapPerConnection)} | memory phase, at ${fmt(i.connectionsMeasured)} idle connections |`,
    `| gateway CPU per handshake (bare Socket.IO) | ${fmt(i.cpuUsPerHandshake, 0, " µs")} (${fmt(i.bareCpuUsPerHandshake, 0, " µs")}) | handshake phase, median round |`,
    `| PostgreSQL per handshake | ${fmt(i.queriesPerHandshake, 3)} queries, ${fmt(i.postgresUsPerHandshake, 0, " µs")} CPU | handshake phase (batched: fewer queries under more load) |`,
    `| gateway CPU per delivery, room of ${S.room} | ${fmt(i.cpuUsPerDelivery, 1, " µs")} | fan-out phase, one gateway, at 80 % of its saturation (the message's own cost, one per ${S.room} deliveries, included) |`,
    `| the same by the gateway's message rate | ${i.deliveryCosts.length ? i.deliveryCosts.map((c) => `${c.rate} msg/s: ${c.usPerDelivery.toFixed(1)} µs`).join("; ") : "not measured"} | fan-out phase: the ladder's sustained steps in rooms of ${S.room}; below them the quiet rates (rooms of 20, per message ÷ ${S.room}: an upper bound) |`,
    `| server CPU per heartbeat | ${fmt(i.cpuUsPerHeartbeat, 1, " µs")} | memory phase, idle connections held 30 s at the top step (its timers included) |`,
    `| gateway CPU per message in (validate, check, store, publish, ack) | ${fmt(i.cpuUsPerMessageIn, 0, " µs")} | stored phase |`,
    `| PostgreSQL per message | ${fmt(i.commitsPerMessage, 3)} commits, ${fmt(i.postgresUsPerMessage, 0, " µs")} CPU | stored phase (batched inserts) |`,
    `| Redis per message (one gateway) | ${fmt(i.redisCommandsPerMessage, 1)} commands executed, ${fmt(i.redisBytesPerMessage, 0, " B")}, ${fmt(i.redisUsPerMessage, 0, " µs")} CPU | stored phase (the limit script's 3 inner commands count) |`,
    `| Redis per handshake with a chat:join | ${fmt(i.redisCommandsPerJoin, 2)} commands, ${fmt(i.redisBytesPerJoin, 0, " B")} | stored phase (one Redis: rooms ride one pattern subscription; on a cluster ≤ 1 SSUBSCRIBE per room per gateway, cluster phase) |`,
    "",
    "| scenario | load | takes | bound by |",
    "| --- | --- | --- | --- |",
    `| ${S.connections.toLocaleString("en")} connections | ${heartbeatsPerSecond.toLocaleString("en")} heartbeats/s | ${fmt(memGateways)} gateways by memory (≤ ${(UNIT.gatewayRssBytes / 2 ** 30).toFixed(1)} GiB RSS each); heartbeats ${fmt(heartbeatCores, 1)} cores | memory |`,
    `| ${S.messagesPerSecond.toLocaleString("en")} messages/s into rooms of ${S.room} | ${deliveries.toLocaleString("en")} deliveries/s${ratePerGateway === null ? "" : `, ${ratePerGateway.toFixed(0)} msg/s per gateway`} | gateways ${fmt(gatewayCoresTraffic, 1)} cores${pricedUs === null ? "" : ` at ${pricedUs.toFixed(1)} µs per delivery (the cost at that rate; ${fmt(gatewayCoresSaturated, 1)} cores at the 80 %-of-saturation price)`}; PostgreSQL ${fmt(pgCoresMessages, 1)} cores (${fmt(commitsPerSecond)} commits/s); Redis ${fmt(redisCoresMessages, 1)} cores → ${fmt(redisShards)} shard(s) | gateway CPU per delivery |`,
    `| ${S.reconnects.toLocaleString("en")} reconnects within ${S.reconnectWindowS} s | ${stormMean.toFixed(0)}/s mean, ${stormPeak.toFixed(0)}/s peak (×${S.peakToMean}) | gateways ${fmt(gatewayCoresStorm, 1)} cores at ${fmt(stormUs, 0, " µs")} per handshake onto another gateway (${fmt(gatewayCoresSameGatewayStorm, 1)} if each came back where its token is known); PostgreSQL ${fmt(pgCoresStorm, 1)} cores, ${fmt(queriesStorm)} queries/s | gateway CPU per handshake |`,
    `| sized for the worst of the three | | **${fmt(need)} gateway processes** (${need === null ? "?" : up(need / UNIT.gatewaysPerPod)} pods of 2 cores), ${redisShards === null ? "?" : redisShards <= 1 ? "one Redis" : `a Redis Cluster of ${redisShards} masters`}, PostgreSQL ${pgCores.length ? fmt(Math.max(...pgCores), 1) : "?"} cores | ${bound} |`,
    `| Centrifugo's published run | ${CENTRIFUGO.connections.toLocaleString("en")} connections, ${CENTRIFUGO.deliveriesPerSecond.toLocaleString("en")} deliveries/s, p99 ${CENTRIFUGO.p99Ms} ms | ${CENTRIFUGO.pods} pods × ${CENTRIFUGO.cpusPerPod} CPUs, about ${KiB(CENTRIFUGO.bytesPerConnection)} per connection | (theirs) |`,
    "",
    "Where the model is uncertain:",
    "- Everything was measured on one 2-core machine with the load generators beside the servers: per-unit CPU is steadier than rates, but still moves by 10-20 % between runs.",
    i.cpuUsPerHeartbeat === null
      ? `- Heartbeats are costed as deliveries (${UNIT.heartbeatIntervalS} s ping interval): the memory phase measured none in this run.`
      : `- Heartbeats (${UNIT.heartbeatIntervalS} s ping interval) are priced at the memory phase's hold on one gateway of about 19,000; its whole CPU per ping, its fixed cost included. The scale run (docs/scale.md) measured 0.82x that (60 s interval) over 13 gateways at 100,000, and 1.37x at 250,000 with both cores of the machine busy.`,
    "- Messages are priced at the rate per gateway the scenario gives each (fewer messages each, more CPU per message: a statement, a Redis round trip and a turn of the event loop are shared by fewer). Below the ladder's lowest step, the quiet rates' rooms of 20 stand in.",
    "- Redis per message was measured with one gateway subscribed. With the classic adapter (one Redis) every gateway receives every message, so Redis's output grows with the gateways; with the sharded adapter on a Redis Cluster only the gateways holding the room receive it (at most the room's size).",
    "- PostgreSQL per message falls as batches grow with load (the stored phase ran at a few thousand messages/s); per handshake likewise (queries are shared by the handshakes that arrive together).",
    `- The storm's handshakes are priced as the memory phase's fresh handshakes at its last big step (a token new to the gateway, its session read, its chat of about ${fmt(i.freshJoinChatOnline)} online joined and announced: ${fmt(i.freshJoinCpuUsPerHandshake)} µs), ` +
      `because a kill -9's clients come back through the balancer to other gateways: the scale run measured them at that cost, net of the survivors' heartbeats. ` +
      `Back on the gateway that knows their tokens (the handshake phase's reconnects, ${fmt(i.cpuUsPerHandshake)} µs each) they would take ${fmt(gatewayCoresSameGatewayStorm, 1)} cores; PostgreSQL's queries per handshake are the handshake phase's, a lower bound for the same reason.`,
    `- The reconnect storm's peak is taken as ${SCENARIO.peakToMean}× its mean (the client's jittered back-off); a storm that arrives in one second instead would need ${SCENARIO.reconnectWindowS / SCENARIO.peakToMean}× more.`,
    "- Memory per connection is for idle connections in one chat; sockets in many rooms, or with unread data, cost more (the send-buffer bound caps the latter).",
  ];
  return {
    lines,
    figures: { inputs: i, scenario: S, unit: UNIT, memGateways, heartbeatCores, gatewayCoresTraffic, gatewayCoresSaturated, ratePerGateway, pricedUs, trafficGateways, pgCoresMessages, redisCoresMessages, commitsPerSecond, gatewayCoresStorm, gatewayCoresSameGatewayStorm, stormUs, pgCoresStorm, queriesStorm, gatewayProcesses: need, redisShards, boundBy: bound },
  };
}

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
  // A heartbeat is one small packet each way: costed as one delivery (an assumption; not measured apart).
  const heartbeatCores = coresFor(i.cpuUsPerDelivery, heartbeatsPerSecond);
  // 100k messages/s into rooms of 10.
  const deliveries = S.messagesPerSecond * S.room;
  // The fan-out phase's CPU per delivery is the gateway's whole CPU over its deliveries: the messages'
  // own cost (validate, check, store, publish, ack: one per room's worth) is already in it.
  const gatewayCoresTraffic = coresFor(i.cpuUsPerDelivery, deliveries);
  const pgCoresMessages = coresFor(i.postgresUsPerMessage, S.messagesPerSecond);
  const redisCoresMessages = coresFor(i.redisUsPerMessage, S.messagesPerSecond);
  const commitsPerSecond = i.commitsPerMessage === null ? null : i.commitsPerMessage * S.messagesPerSecond;
  // The storm.
  const stormMean = S.reconnects / S.reconnectWindowS;
  const stormPeak = stormMean * S.peakToMean;
  const gatewayCoresStorm = coresFor(i.cpuUsPerHandshake, stormPeak);
  const pgCoresStorm = coresFor(i.postgresUsPerHandshake, stormPeak);
  const queriesStorm = i.queriesPerHandshake === null ? null : i.queriesPerHandshake * stormPeak;
  // The same storm if every user came back after presence's grace: each a fresh join, announced.
  const gatewayCoresFreshStorm = coresFor(i.freshJoinCpuUsPerHandshake, stormPeak);

  const traffic = gatewayCoresTraffic === null ? null : up(gatewayCoresTraffic + (heartbeatCores ?? 0));
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
    `| gateway CPU per message in (validate, check, store, publish, ack) | ${fmt(i.cpuUsPerMessageIn, 0, " µs")} | stored phase |`,
    `| PostgreSQL per message | ${fmt(i.commitsPerMessage, 3)} commits, ${fmt(i.postgresUsPerMessage, 0, " µs")} CPU | stored phase (batched inserts) |`,
    `| Redis per message (one gateway) | ${fmt(i.redisCommandsPerMessage, 1)} commands executed, ${fmt(i.redisBytesPerMessage, 0, " B")}, ${fmt(i.redisUsPerMessage, 0, " µs")} CPU | stored phase (the limit script's 3 inner commands count) |`,
    `| Redis per handshake with a chat:join | ${fmt(i.redisCommandsPerJoin, 2)} commands, ${fmt(i.redisBytesPerJoin, 0, " B")} | stored phase (one Redis: rooms ride one pattern subscription; on a cluster ≤ 1 SSUBSCRIBE per room per gateway, cluster phase) |`,
    "",
    "| scenario | load | takes | bound by |",
    "| --- | --- | --- | --- |",
    `| ${S.connections.toLocaleString("en")} connections | ${heartbeatsPerSecond.toLocaleString("en")} heartbeats/s | ${fmt(memGateways)} gateways by memory (≤ ${(UNIT.gatewayRssBytes / 2 ** 30).toFixed(1)} GiB RSS each); heartbeats ${fmt(heartbeatCores, 1)} cores | memory |`,
    `| ${S.messagesPerSecond.toLocaleString("en")} messages/s into rooms of ${S.room} | ${deliveries.toLocaleString("en")} deliveries/s | gateways ${fmt(gatewayCoresTraffic, 1)} cores; PostgreSQL ${fmt(pgCoresMessages, 1)} cores (${fmt(commitsPerSecond)} commits/s); Redis ${fmt(redisCoresMessages, 1)} cores → ${fmt(redisShards)} shard(s) | gateway CPU per delivery |`,
    `| ${S.reconnects.toLocaleString("en")} reconnects within ${S.reconnectWindowS} s | ${stormMean.toFixed(0)}/s mean, ${stormPeak.toFixed(0)}/s peak (×${S.peakToMean}) | gateways ${fmt(gatewayCoresStorm, 1)} cores; PostgreSQL ${fmt(pgCoresStorm, 1)} cores, ${fmt(queriesStorm)} queries/s | gateway CPU per handshake |`,
    `| sized for the worst of the three | | **${fmt(need)} gateway processes** (${need === null ? "?" : up(need / UNIT.gatewaysPerPod)} pods of 2 cores), ${redisShards === null ? "?" : redisShards <= 1 ? "one Redis" : `a Redis Cluster of ${redisShards} masters`}, PostgreSQL ${pgCores.length ? fmt(Math.max(...pgCores), 1) : "?"} cores | ${bound} |`,
    `| Centrifugo's published run | ${CENTRIFUGO.connections.toLocaleString("en")} connections, ${CENTRIFUGO.deliveriesPerSecond.toLocaleString("en")} deliveries/s, p99 ${CENTRIFUGO.p99Ms} ms | ${CENTRIFUGO.pods} pods × ${CENTRIFUGO.cpusPerPod} CPUs, about ${KiB(CENTRIFUGO.bytesPerConnection)} per connection | (theirs) |`,
    "",
    "Where the model is uncertain:",
    "- Everything was measured on one 2-core machine with the load generators beside the servers: per-unit CPU is steadier than rates, but still moves by 10-20 % between runs.",
    `- Heartbeats are costed as deliveries (${UNIT.heartbeatIntervalS} s ping interval), not measured apart; idle connections' CPU is otherwise left out.`,
    "- Redis per message was measured with one gateway subscribed. With the classic adapter (one Redis) every gateway receives every message, so Redis's output grows with the gateways; with the sharded adapter on a Redis Cluster only the gateways holding the room receive it (at most the room's size).",
    "- PostgreSQL per message falls as batches grow with load (the stored phase ran at a few thousand messages/s); per handshake likewise (queries are shared by the handshakes that arrive together).",
    `- The storm's handshakes are costed as the handshake phase's reconnects, back within presence's grace (nothing announced: ${fmt(i.cpuUsPerHandshake)} µs each). ` +
      `A user back after the grace is a fresh join, announced to its chat's others online: at the memory phase's last big step (chats of about ${fmt(i.freshJoinChatOnline)} online) ` +
      `ours cost ${fmt(i.freshJoinCpuUsPerHandshake)} µs per handshake${i.freshJoinCpuUsPerHandshake !== null && i.cpuUsPerHandshake ? ` (${(i.freshJoinCpuUsPerHandshake / i.cpuUsPerHandshake).toFixed(1)}×)` : ""}, ` +
      `so a storm of such joins into chats that size would take about ${fmt(gatewayCoresFreshStorm, 1)} gateway cores at its peak instead of ${fmt(gatewayCoresStorm, 1)} ` +
      "(an upper bound: on loopback each announcement's write also carries the client's TCP receive path).",
    `- The reconnect storm's peak is taken as ${SCENARIO.peakToMean}× its mean (the client's jittered back-off); a storm that arrives in one second instead would need ${SCENARIO.reconnectWindowS / SCENARIO.peakToMean}× more.`,
    "- Memory per connection is for idle connections in one chat; sockets in many rooms, or with unread data, cost more (the send-buffer bound caps the latter).",
  ];
  return {
    lines,
    figures: { inputs: i, scenario: S, unit: UNIT, memGateways, heartbeatCores, gatewayCoresTraffic, pgCoresMessages, redisCoresMessages, commitsPerSecond, gatewayCoresStorm, gatewayCoresFreshStorm, pgCoresStorm, queriesStorm, gatewayProcesses: need, redisShards, boundBy: bound },
  };
}

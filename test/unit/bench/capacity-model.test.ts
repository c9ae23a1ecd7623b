import { describe, expect, it } from "vitest";
import { capacityModel, costAt, deliveryCosts, inputsOf } from "../../../bench/lib/capacity-model";

/**
 * The capacity model `npm run bench` prints: which of a run's figures it takes (the memory phase's
 * largest step, the median handshake round, the fan-out's rooms of 10 at 80 % load, the stored
 * phase) and the projection it makes of them. The figures here are made up, the arithmetic is the
 * model's: 1M connections, 100k messages/s into rooms of 10, 1M reconnects within 60 s at twice
 * the mean, each core kept under 70 %.
 */
const KiB = 1024;

function run() {
  return {
    capacity: {
      chats: 200,
      ours: {
        steps: [
          { total: 5_000, rssPerConn: 11 * KiB, heapPerConn: 10 * KiB, cpuUsPerHandshake: 300 },
          { total: 19_000, rssPerConn: 12.5 * KiB, heapPerConn: 12 * KiB, cpuUsPerHandshake: 400 },
          // A top-up step: its 250 handshakes are outweighed by the heartbeats of those held, so its
          // CPU per handshake is not the fresh joins' figure (the last step of 1,000 or more is).
          { total: 19_250, rssPerConn: 13 * KiB, heapPerConn: 12 * KiB, cpuUsPerHandshake: 2_000 },
        ],
      },
    },
    handshakes: {
      connectionsPerRound: 4_000,
      rounds: {
        ours: [
          { cpuUsPerHandshake: 180, queriesPerHandshake: 0.03, cpu: { postgres: 0.08 } },
          { cpuUsPerHandshake: 170, queriesPerHandshake: 0.02, cpu: { postgres: 0.04 } },
          { cpuUsPerHandshake: 200, queriesPerHandshake: 0.025, cpu: { postgres: 0.06 } },
        ],
        bare: [{ cpuUsPerHandshake: 150 }, { cpuUsPerHandshake: 140 }, { cpuUsPerHandshake: 160 }],
      },
    },
    fanout: { rooms: { "10": { ours: { atLatencyRate: { gatewayCpuUsPerDelivery: 14 }, sustained: { gatewayCpuUsPerDelivery: 12 } } } } },
    stored: {
      ours: { gatewayUsPerMessage: 80, postgresUsPerMessage: 35, commitsPerMessage: 0.01, redisPerMessage: { commands: 5, inBytes: 600, outBytes: 490, cpuUs: 10 } },
      redisPerJoin: { commands: 7, inBytes: 300, outBytes: 136 },
    },
  };
}

describe("capacity model", () => {
  it("takes the largest memory step, the median handshake round, rooms of 10 at 80 % load and the stored phase", () => {
    const i = inputsOf(run());
    expect(i.rssPerConnection).toBe(13 * KiB);
    expect(i.connectionsMeasured).toBe(19_250);
    expect(i.cpuUsPerHandshake).toBe(180);
    expect(i.bareCpuUsPerHandshake).toBe(150);
    expect(i.queriesPerHandshake).toBe(0.025);
    expect(i.postgresUsPerHandshake).toBe(15); // 0.06 CPU-s over 4,000 handshakes
    expect(i.cpuUsPerDelivery).toBe(14);
    expect(i.redisBytesPerMessage).toBe(1_090);
    expect(i.redisBytesPerJoin).toBe(436);
    expect(i.freshJoinCpuUsPerHandshake).toBe(400);
    expect(i.freshJoinChatOnline).toBe(95);
  });

  it("sizes the cluster for the worst scenario, here the deliveries", () => {
    const { figures, lines } = capacityModel(run());
    expect(figures.memGateways).toBe(9); // 1M × 13 KiB over 1.5 GiB each = 8.3
    expect(figures.heartbeatCores).toBeCloseTo(0.8, 6); // 40,000/s × 14 µs at 70 %
    expect(figures.gatewayCoresTraffic).toBeCloseTo(20, 6); // 1M deliveries/s × 14 µs at 70 %
    // The storm lands on gateways that have not seen its tokens: priced as the fresh handshakes (33,333/s × 400 µs at 70 %),
    // with the same users back where they were (the handshake phase's 180 µs) as its lower bound.
    expect(figures.gatewayCoresStorm).toBeCloseTo(19.048, 3);
    expect(figures.gatewayCoresSameGatewayStorm).toBeCloseTo(8.571, 3);
    expect(figures.pgCoresMessages).toBeCloseTo(5, 6);
    expect(figures.commitsPerSecond).toBeCloseTo(1_000, 6);
    expect(figures.queriesStorm).toBeCloseTo(833.3, 1);
    expect(figures.redisShards).toBe(2); // 100k messages/s × 10 µs at 70 % = 1.4 cores
    expect(figures.gatewayProcesses).toBe(21); // ceil(20 + 0.8)
    expect(figures.boundBy).toBe("CPU for deliveries");
    expect(lines.join("\n")).toContain("**21 gateway processes** (11 pods of 2 cores), a Redis Cluster of 2 masters, PostgreSQL 5.0 cores | CPU for deliveries |");
  });

  it("is bound by memory when connections cost more than the traffic", () => {
    const details = run();
    details.capacity.ours.steps.at(-1)!.rssPerConn = 100 * KiB;
    const { figures } = capacityModel(details);
    expect(figures.memGateways).toBe(64);
    expect(figures.gatewayProcesses).toBe(64);
    expect(figures.boundBy).toBe("memory (RSS per connection)");
  });

  /** The fan-out ladder's steps in rooms of 10 (one failed), the quiet rates in rooms of 20, and the memory phase's hold. */
  function rated() {
    const details: Record<string, any> = run();
    details.fanout.rooms["10"].ours.steps = [
      { offered: 800, ok: true, gatewayCpuUsPerDelivery: 40 },
      { offered: 1_600, ok: true, gatewayCpuUsPerDelivery: 20 },
      { offered: 3_200, ok: false, gatewayCpuUsPerDelivery: 10 },
      { offered: 2_400, ok: true, gatewayCpuUsPerDelivery: 16 },
    ];
    details.fanout.quiet = {
      room: 20,
      rates: { "100": { ours: { cpuUs: 200_000, messages: 100 } }, "1000": { ours: { cpuUs: 500_000, messages: 1_000 } } },
    };
    details.capacity.ours.hold = { cpuUsPerHeartbeat: 50 };
    return details;
  }

  it("prices a delivery at the gateway's message rate: the ladder's sustained steps, the quiet rates below them", () => {
    const costs = deliveryCosts(rated());
    // 100 msg/s: 2,000 µs per message over 10 deliveries; 1,000 msg/s is above the ladder's lowest step, the failed step is left out.
    expect(costs.map((c) => [c.rate, c.usPerDelivery])).toEqual([
      [100, 200],
      [800, 40],
      [1_600, 20],
      [2_400, 16],
    ]);
    expect(costAt(costs, 50)).toBe(200);
    expect(costAt(costs, Math.sqrt(800 * 1_600))).toBeCloseTo(30, 6); // halfway on a log scale
    expect(costAt(costs, 10_000)).toBe(16);
    expect(costAt([], 100)).toBeNull();
  });

  it("sizes the deliveries at the rate each gateway then gets, and heartbeats at their measured cost", () => {
    const { figures, lines } = capacityModel(rated());
    expect(figures.heartbeatCores).toBeCloseTo(2.857, 3); // 40,000/s × 50 µs at 70 %
    // From 20 gateways (the storm's 19.0 cores): 5,000 msg/s each, priced at the top step's 16 µs,
    // takes 22.9 + 2.9 cores = 26 gateways; at 3,846 msg/s each the price holds: 26.
    expect(figures.trafficGateways).toBe(26);
    expect(figures.ratePerGateway).toBeCloseTo(100_000 / 26, 6);
    expect(figures.pricedUs).toBe(16);
    expect(figures.gatewayCoresTraffic).toBeCloseTo(22.857, 3);
    expect(figures.gatewayCoresSaturated).toBeCloseTo(20, 6); // the 80 % step's 14 µs
    expect(figures.gatewayProcesses).toBe(26);
    const text = lines.join("\n");
    expect(text).toContain("| the same by the gateway's message rate | 100 msg/s: 200.0 µs; 800 msg/s: 40.0 µs; 1600 msg/s: 20.0 µs; 2400 msg/s: 16.0 µs |");
    expect(text).toContain("| server CPU per heartbeat | 50.0 µs |");
    expect(text).toContain("1,000,000 deliveries/s, 3846 msg/s per gateway | gateways 22.9 cores at 16.0 µs per delivery");
  });

  it("says what a run without a phase did not measure, and sizes from what it did", () => {
    const { handshakes } = run();
    const { figures, lines } = capacityModel({ handshakes });
    expect(figures.memGateways).toBeNull();
    expect(figures.gatewayCoresTraffic).toBeNull();
    expect(figures.gatewayProcesses).toBe(9); // the storm alone, without the memory phase's fresh handshakes: the handshake phase's 180 µs, 8.6 cores
    expect(figures.boundBy).toBe("CPU for the reconnect storm's handshakes");
    const text = lines.join("\n");
    expect(text).toContain("| memory per connection (RSS; heap) | not measured; not measured |");
    expect(text).toContain("| gateway CPU per delivery, room of 10 | not measured |");
  });
});

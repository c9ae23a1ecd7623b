import { describe, expect, it } from "vitest";
import { capacityModel, inputsOf } from "../../../bench/lib/capacity-model";

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
          { total: 19_000, rssPerConn: 12.5 * KiB, heapPerConn: 12 * KiB, cpuUsPerHandshake: 1_300 },
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
    expect(i.freshJoinCpuUsPerHandshake).toBe(1_300);
    expect(i.freshJoinChatOnline).toBe(95);
  });

  it("sizes the cluster for the worst scenario, here the deliveries", () => {
    const { figures, lines } = capacityModel(run());
    expect(figures.memGateways).toBe(9); // 1M × 13 KiB over 1.5 GiB each = 8.3
    expect(figures.heartbeatCores).toBeCloseTo(0.8, 6); // 40,000/s × 14 µs at 70 %
    expect(figures.gatewayCoresTraffic).toBeCloseTo(20, 6); // 1M deliveries/s × 14 µs at 70 %
    expect(figures.gatewayCoresStorm).toBeCloseTo(8.571, 3); // 33,333/s × 180 µs at 70 %
    expect(figures.gatewayCoresFreshStorm).toBeCloseTo(61.9, 1);
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

  it("says what a run without a phase did not measure, and sizes from what it did", () => {
    const { handshakes } = run();
    const { figures, lines } = capacityModel({ handshakes });
    expect(figures.memGateways).toBeNull();
    expect(figures.gatewayCoresTraffic).toBeNull();
    expect(figures.gatewayProcesses).toBe(9); // the storm alone: 8.6 cores
    expect(figures.boundBy).toBe("CPU for the reconnect storm's handshakes");
    const text = lines.join("\n");
    expect(text).toContain("| memory per connection (RSS; heap) | not measured; not measured |");
    expect(text).toContain("| gateway CPU per delivery, room of 10 | not measured |");
  });
});

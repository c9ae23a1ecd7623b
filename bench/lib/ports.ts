/**
 * Free loopback ports for the servers the bench and the tests start (redis-server, a Redis Cluster,
 * the pm2 + nginx cluster).
 *
 * Ports are picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port inside
 * it can be free when checked and then become the local end of someone's outgoing connection (a
 * PostgreSQL or Redis client in a parallel test file) before our server binds it, which fails the
 * bind with EADDRINUSE. Below the range only another listener can take it, and the bind check sees
 * listeners.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** True when a listener can bind the loopback port now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A base port with `count` consecutive free ports, each with its port + `pairOffset` free as well
 * when one is given (a Redis Cluster node's bus port is its port + 10000). Random bases, bounded tries.
 */
export async function freeRange(count: number, pairOffset = 0): Promise<number> {
  const ceiling = ephemeralStart() - pairOffset - count;
  if (ceiling <= LOWEST) throw new Error(`no room for ${count} ports below the ephemeral range`);
  for (let i = 0; i < 200; i += 1) {
    const base = LOWEST + Math.floor(Math.random() * (ceiling - LOWEST));
    const wanted = Array.from({ length: count }, (_, k) => base + k);
    if (pairOffset) wanted.push(...wanted.map((p) => p + pairOffset));
    if ((await Promise.all(wanted.map(portFree))).every(Boolean)) return base;
  }
  throw new Error(`no ${count} free consecutive loopback ports`);
}

/** One free loopback port (released at once: another process may still take it first, rarely). */
export const freePort = (): Promise<number> => freeRange(1);

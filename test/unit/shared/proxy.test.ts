import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientAddress, trustProxy } from "../../../shared/proxy";

const req = (peer: string, xff?: string) =>
  ({ socket: { remoteAddress: peer }, connection: { remoteAddress: peer }, headers: xff ? { "x-forwarded-for": xff } : {} }) as unknown as IncomingMessage;

describe("trusting proxies (TRUST_PROXY)", () => {
  it("ignores X-Forwarded-For unless a proxy is trusted", () => {
    expect(clientAddress(req("127.0.0.1", "6.6.6.6"), trustProxy([]))).toBe("127.0.0.1");
  });

  it("believes only the trusted proxy's hop, not what the client wrote before it", () => {
    const trust = trustProxy(["loopback"]);
    expect(clientAddress(req("127.0.0.1", "6.6.6.6, 198.51.100.7"), trust)).toBe("198.51.100.7");
    // A client connecting directly (not through the proxy) cannot claim another address.
    expect(clientAddress(req("203.0.113.1", "6.6.6.6"), trust)).toBe("203.0.113.1");
  });

  it("accepts ranges, names and hop counts", () => {
    expect(clientAddress(req("10.1.2.3", "198.51.100.9"), trustProxy(["loopback", "uniquelocal"]))).toBe("198.51.100.9");
    expect(clientAddress(req("10.1.2.3", "6.6.6.6, 198.51.100.9"), trustProxy(["1"]))).toBe("198.51.100.9");
  });
});

import type { IncomingMessage } from "node:http";
import proxyaddr from "proxy-addr";

export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * TRUST_PROXY as one trust function for the api (express's `trust proxy`) and the gateways:
 * a hop count, or addresses, ranges and names (`loopback`, `uniquelocal`, …). Empty trusts nothing,
 * so X-Forwarded-For is ignored unless the connection comes from a trusted proxy.
 */
export function trustProxy(values: readonly string[]): TrustProxy {
  if (values.length === 0) return () => false;
  if (values.length === 1 && /^\d+$/.test(values[0]!)) {
    const hops = Number(values[0]);
    return (_address, hop) => hop < hops;
  }
  return proxyaddr.compile([...values]);
}

/** The client's address: the socket's peer, or what trusted proxies in front of it say it was. */
export function clientAddress(req: IncomingMessage, trust: TrustProxy): string {
  return proxyaddr(req, trust);
}

/**
 * With TRUST_PROXY empty, a request that carries X-Forwarded-For came through a proxy nobody
 * declared: every client then shares the proxy's address, and the limits per address (logins,
 * registrations, handshakes) count them all as one. Warns once per process; a no-op otherwise.
 */
export function warnUntrustedProxy(values: readonly string[], warn: (message: string) => void): (req: IncomingMessage) => void {
  if (values.length > 0) return () => undefined;
  let warned = false;
  return (req) => {
    if (warned || req.headers["x-forwarded-for"] === undefined) return;
    warned = true;
    warn("a request came with X-Forwarded-For but TRUST_PROXY is unset: limits per client address see the proxy's address for every client; set TRUST_PROXY to the proxy's address (loopback, uniquelocal, a range or a hop count)");
  };
}

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

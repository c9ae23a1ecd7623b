import type { IncomingMessage } from "node:http";

/**
 * A browser's Origin must be listed in CORS_ORIGINS or name the host it connects to (same origin).
 * Host names are compared without ports: nginx forwards `Host $host`, which drops the port.
 * Clients that send no Origin (apps, servers) are not browsers and pass.
 */
export function originAllowed(req: IncomingMessage, corsOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (!origin || corsOrigins.includes("*") || corsOrigins.includes(origin)) return true;
  try {
    return new URL(origin).hostname === new URL(`http://${req.headers.host ?? ""}`).hostname;
  } catch {
    return false;
  }
}

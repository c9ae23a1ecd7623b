import pino, { type Logger } from "pino";

export type { Logger };

/** Paths that may carry credentials: pino replaces them before a line is written. */
const REDACT = [
  "password",
  "token",
  "refresh_token",
  "*.password",
  "*.token",
  "*.refresh_token",
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['x-refresh-token']",
  'res.headers["set-cookie"]',
];

/** The process logger: JSON lines on stdout. Modules take `logger.child({ module })`. */
export function createLogger(options: { level: string; name?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      name: options.name,
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/** Strips credentials from a URL before it is logged (the `token` query parameter carries JWTs). */
export function safeUrl(url: string | undefined): string | undefined {
  if (!url || !url.includes("?")) return url;
  return url.replace(/([?&](?:token|access_token|refresh_token)=)[^&#]*/gi, "$1[redacted]");
}

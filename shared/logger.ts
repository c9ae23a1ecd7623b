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

/**
 * The process logger: JSON lines on stdout, or with `pretty` (a terminal outside production)
 * pino-pretty's readable lines. Modules take `logger.child({ module })`.
 */
export function createLogger(options: { level: string; name?: string; destination?: pino.DestinationStream; pretty?: boolean }): Logger {
  const destination = options.destination ?? (options.pretty ? prettyStream() : undefined);
  return pino(
    {
      level: options.level,
      name: options.name,
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** Strips credentials from a URL before it is logged (the `token` query parameter carries JWTs). */
export function safeUrl(url: string | undefined): string | undefined {
  if (!url || !url.includes("?")) return url;
  return url.replace(/([?&](?:token|access_token|refresh_token)=)[^&#]*/gi, "$1[redacted]");
}

/** pino-pretty, loaded only when a terminal asks for it: processes that log JSON never load it. */
function prettyStream(): pino.DestinationStream {
  const pretty = require("pino-pretty") as typeof import("pino-pretty");
  return pretty({ colorize: true, singleLine: true, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss.l", sync: true });
}

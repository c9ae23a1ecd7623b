import { STATUS_CODES } from "node:http";
import { z } from "zod";

/** Every machine-readable error code of the contract (HTTP problem codes and socket codes). */
export const ERROR_CODES = [
  "invalid_body",
  "weak_password",
  "invalid_credentials",
  "unauthorized",
  "token_expired",
  "session_revoked",
  "forbidden",
  "not_found",
  "username_taken",
  "email_taken",
  "already_member",
  "too_many_invites",
  "account_banned",
  "idempotency_conflict",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "unavailable",
  "internal",
  // socket-only codes
  "missing_token",
  "invalid_token",
  "invalid_chat_id",
  "chat_forbidden",
  "invalid_payload",
  "not_in_chat",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const fieldError = z.object({ field: z.string(), message: z.string() });
export type FieldError = z.infer<typeof fieldError>;

/** zxcvbn's judgement of a password, sent with `weak_password`. */
export const passwordFeedback = z.object({ score: z.number().int(), warning: z.string(), suggestions: z.array(z.string()) });
export type PasswordFeedback = z.infer<typeof passwordFeedback>;

/** `/readyz`'s word on each dependency (PostgreSQL, Redis), in its answer and in its 503 problem alike. */
export const dependencyChecks = z.record(z.string(), z.enum(["up", "down"]));

/** RFC 9457 problem details, as every error of the api is answered (/openapi.json's `Problem`). */
export const problemView = z
  .object({
    type: z.literal("about:blank"),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(ERROR_CODES),
    detail: z.string(),
    errors: z.array(fieldError).optional().meta({ description: "With invalid_body: what is wrong with which field" }),
    feedback: passwordFeedback.optional().meta({ description: "With weak_password: zxcvbn's judgement" }),
    checks: dependencyChecks.optional().meta({ description: "With unavailable from /readyz: each dependency, up or down" }),
  })
  .meta({ id: "Problem" });
/** A problem body; AppError may add members beyond the documented ones (its `extra`). */
export type ProblemBody = z.infer<typeof problemView> & { [extra: string]: unknown };

/** The one error type: a code from the closed union plus its HTTP status. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    detail?: string,
    /** Extra problem members, e.g. `errors` or `feedback`. */
    readonly extra: Record<string, unknown> = {},
    /** Seconds for a Retry-After header. */
    readonly retryAfter?: number,
  ) {
    super(detail ?? STATUS_CODES[status] ?? code);
    this.name = "AppError";
  }

  toProblem(): ProblemBody {
    return {
      type: "about:blank",
      title: STATUS_CODES[this.status] ?? "Error",
      status: this.status,
      code: this.code,
      detail: this.message,
      ...this.extra,
    };
  }
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError;

/**
 * PostgreSQL's codes for a server that is going away or cannot take the work now (shutdown, too many
 * connections, out of resources, a broken connection), and for a statement ended by time or by an
 * operator (57014: `statement_timeout`, `pg_cancel_backend`), a lock not granted, or a conflict a
 * retry resolves (serialization, deadlock): each worth asking again later, not a fault of ours.
 */
const PG_UNAVAILABLE_CODES = new Set(["57P01", "57P02", "57P03", "57014", "55P03", "53000", "53100", "53200", "53300", "40001", "40P01", "08000", "08001", "08003", "08004", "08006"]);
const NET_UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN"]);

/**
 * True when an error means a backing service (PostgreSQL, Redis) cannot be reached right now,
 * so callers answer 503 `unavailable` instead of 500.
 */
export function isUnavailableError(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  if (typeof e.code === "string" && (PG_UNAVAILABLE_CODES.has(e.code) || NET_UNAVAILABLE_CODES.has(e.code))) return true;
  const msg = typeof e.message === "string" ? e.message : "";
  return (
    /timeout exceeded when trying to connect|Connection terminated|connection timeout|Query read timeout|Connection is closed|Cannot use a pool after calling end|MaxRetriesPerRequest|Stream isn't writeable/i.test(
      msg,
    )
  );
}

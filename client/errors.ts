import type { ErrorCode, ProblemBody } from "../shared/contract/errors";

/** Every non-2xx HTTP answer, built from its problem+json body (`Problem` in /openapi.json). */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly problem: ProblemBody;
  /** Seconds from `Retry-After` (429, 503), when the server sent it. */
  readonly retryAfter?: number;

  constructor(problem: ProblemBody, retryAfter?: number) {
    super(problem.detail || problem.title || problem.code);
    this.name = "ApiError";
    this.code = problem.code;
    this.status = problem.status;
    this.problem = problem;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/**
 * `timeout`: no answer in time; `disconnected`: the connection dropped before the answer; `closed`:
 * the socket was closed or ended; `catch_up_incomplete` (the `error` event only): a re-join's
 * catch-up went on for too long, so its remaining messages were read without the changes in
 * between (reload the chat's messages to see those).
 */
export type SocketErrorCode = ErrorCode | "timeout" | "disconnected" | "closed" | "catch_up_incomplete";

/** A socket event answered `{ ok: false, error }`, or a refused handshake the client cannot get past. */
export class SocketError extends Error {
  constructor(
    readonly code: SocketErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SocketError";
  }
}

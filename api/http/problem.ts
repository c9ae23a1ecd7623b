import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { AppError, isAppError, isUnavailableError } from "../../shared/contract/errors";

export function sendProblem(res: Response, error: AppError): void {
  if (error.retryAfter !== undefined) res.setHeader("Retry-After", String(Math.max(1, Math.ceil(error.retryAfter))));
  res.status(error.status).type("application/problem+json").send(JSON.stringify(error.toProblem()));
}

export function notFound(_req: Request, _res: Response, next: NextFunction): void {
  next(new AppError("not_found", 404, "No such resource"));
}

/**
 * The one place errors become problem+json. Known AppErrors keep their code; an unreachable
 * database or Redis is 503 `unavailable`; anything else is logged and answered 500 `internal`
 * without internals.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    sendProblem(res, asAppError(err, logger, req.id));
  };
}

/** What any error is answered as (the error handler's rule; the server API's batch uses it per call). */
export function asAppError(err: unknown, logger: Logger, reqId?: unknown): AppError {
  if (isAppError(err)) return err;
  if (isUnavailableError(err)) {
    logger.warn({ err: (err as Error).message, reqId }, "backing service unavailable");
    return new AppError("unavailable", 503, "A backing service is unavailable; try again shortly", {}, 2);
  }
  // Errors raised by body-parser and friends carry a 4xx status of their own.
  const status = (err as { status?: unknown })?.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new AppError(status === 413 ? "payload_too_large" : "invalid_body", status === 413 ? 413 : 400, "The request is malformed");
  }
  logger.error({ err, reqId }, "unhandled error");
  return new AppError("internal", 500, "Something went wrong on our side");
}

import express, { type NextFunction, type Request, type Response } from "express";
import { LIMITS } from "../../shared/contract/views";
import { AppError } from "../../shared/contract/errors";

const hasBody = (req: Request) =>
  req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");

/**
 * JSON bodies only, at most `limitBytes`. A body with another media type is 415; calls without a
 * body (logout, accept) need no Content-Type at all. Parser failures become the contract's codes.
 */
export function jsonBodyOf(limitBytes: number) {
  const parseJson = express.json({ limit: limitBytes, strict: true, inflate: false, type: () => true });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!hasBody(req)) {
      req.body = undefined;
      return next();
    }
    if (!req.is("application/json") && !req.is("application/*+json")) {
      return next(new AppError("unsupported_media_type", 415, "Request bodies must be application/json"));
    }
    parseJson(req, res, (err?: unknown) => {
      if (!err) return next();
      const type = (err as { type?: string }).type;
      if (type === "entity.too.large") return next(new AppError("payload_too_large", 413, `Request bodies are limited to ${limitBytes} bytes`));
      if (type === "charset.unsupported" || type === "encoding.unsupported") {
        return next(new AppError("unsupported_media_type", 415, "Bodies must be UTF-8 JSON without content encoding"));
      }
      return next(new AppError("invalid_body", 400, "The body is not valid JSON"));
    });
  };
}

/** The user API's bodies: at most 16 KiB. */
export const jsonBody = jsonBodyOf(LIMITS.bodyBytes);

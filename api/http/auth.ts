import type { NextFunction, Request, Response } from "express";
import type { Db } from "../../shared/db/db";
import { AppError, isAppError } from "../../shared/contract/errors";
import { requireActiveSession } from "../../shared/db/sessions";
import type { TokenVerifier } from "../../shared/auth/tokens";

export interface AuthContext {
  userId: string;
  sessionId: string;
}

const LAST_SEEN_RESOLUTION_MS = 60_000;

/** The caller of a protected route (set by `requireAuth`). */
export function caller(res: Response): AuthContext {
  const ctx = res.locals.auth as AuthContext | undefined;
  if (!ctx) throw new AppError("unauthorized", 401, "Authentication required");
  return ctx;
}

/**
 * `Authorization: Bearer <access token>`: signature with a pinned algorithm, then the session in
 * PostgreSQL. Token problems are `unauthorized` / `token_expired` / `session_revoked` (401).
 */
export function requireAuth(deps: { db: Db; tokens: TokenVerifier }) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.headers.authorization;
    const match = typeof header === "string" ? /^Bearer\s+([A-Za-z0-9_.~+/=-]+)\s*$/i.exec(header) : null;
    if (!match) return next(new AppError("unauthorized", 401, "A Bearer access token is required"));
    try {
      const claims = await deps.tokens.verify(match[1]!);
      const session = await requireActiveSession(deps.db, claims);
      res.locals.auth = { userId: claims.sub, sessionId: claims.sid } satisfies AuthContext;
      // last_seen_at is informational: refresh it at most once a minute, off the request path.
      if (Date.now() - session.lastSeenAt.getTime() > LAST_SEEN_RESOLUTION_MS) {
        deps.db
          .updateTable("sessions")
          .set({ last_seen_at: new Date() })
          .where("id", "=", session.id)
          .execute()
          .catch(() => undefined);
      }
      next();
    } catch (err) {
      if (isAppError(err) && err.code === "invalid_token") return next(new AppError("unauthorized", 401, err.message));
      next(err);
    }
  };
}

import { type NextFunction, type Request, type Response, Router } from "express";
import type { Logger } from "pino";
import { AppError } from "../../shared/contract/errors";
import { batchBody, deliveryId, externalId, SERVER_LIMITS } from "../../shared/contract/server";
import { isUuid } from "../../shared/contract/validation";
import type { Db } from "../../shared/db/db";
import type { ServerKeyRow, ServerScope } from "../../shared/db/schema";
import { jsonBodyOf } from "../http/body";
import { asAppError, sendProblem } from "../http/problem";
import { validate } from "../http/validate";
import { type Operation, OPERATIONS, type Outcome } from "./operations";
import type { ServerDeps } from "./server.service";
import { findServerKey } from "./server-keys";

export const SERVER_PREFIX = "/server/v1";
const LAST_USED_RESOLUTION_MS = 60_000;

/** A path template as a matcher: `{id}` and `{user_id}` are UUIDs (lower-cased), `{external_id}` the app's own id. */
function matcher(template: string): (path: string) => Record<string, string> | undefined {
  const names: string[] = [];
  const re = new RegExp(`^${template.replace(/\{(\w+)\}/g, (_m, name: string) => (names.push(name), "([^/]+)"))}/?$`);
  return (path) => {
    const m = re.exec(path);
    if (!m) return undefined;
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        throw new AppError("invalid_body", 400, "The path is invalid", { errors: [{ field: name, message: "is not a valid percent-encoding" }] });
      }
    });
    return params;
  };
}

/** Path values that cannot name anything are 404 (like the user API's); a malformed external id is 400. */
function checkParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    if (name === "delivery_id") {
      if (!deliveryId.safeParse(value).success) throw new AppError("not_found", 404, "No such delivery");
      out[name] = value;
    } else if (name === "external_id") {
      const parsed = externalId.safeParse(value);
      if (!parsed.success) throw new AppError("invalid_body", 400, "The path is invalid", { errors: [{ field: "external_id", message: parsed.error.issues[0]?.message ?? "invalid" }] });
      out[name] = parsed.data;
    } else {
      if (!isUuid(value)) throw new AppError("not_found", 404, `No such ${name === "id" ? "resource" : name.replace("_id", "")}`);
      out[name] = value.toLowerCase();
    }
  }
  return out;
}

const outOfScope = (scope: ServerScope) => new AppError("forbidden", 403, `This call needs a server key with the ${scope} scope`);

/**
 * `/server/v1/…`: the server API, for the app's own backend. Every call needs
 * `Authorization: Bearer <server key>` (a user's access token is 401 here, and a server key is
 * not an access token anywhere else); a key is looked up by its hash on every call, so a revoked
 * key fails at once on every replica. Bodies up to 256 KiB (a batch of 100 calls). The calls
 * are the OPERATIONS table; `POST /server/v1/batch` runs up to 100 of them in order.
 */
export function serverRoutes(deps: ServerDeps & { logger: Logger }): Router {
  const router = Router();
  const matchers = OPERATIONS.map((o) => ({ op: o, match: matcher(o.path) }));
  const lastUsed = new Map<string, number>();

  const authenticate = async (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    const bearer = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    const key = bearer ? await findServerKey(deps.db, bearer) : undefined;
    if (!key) return next(new AppError("unauthorized", 401, "A valid server key is required (Authorization: Bearer <server key>)"));
    res.locals.serverKey = key;
    noteUse(deps.db, key, lastUsed);
    next();
  };

  /** Runs one call: scope, path values, body, then the operation. */
  const execute = async (key: ServerKeyRow, o: Operation, rawParams: Record<string, string>, rawBody: unknown, rawQuery: unknown, ip: string | null): Promise<Outcome> => {
    if (!key.scopes.includes(o.scope)) throw outOfScope(o.scope);
    const params = checkParams(rawParams);
    const body = o.body ? validate(o.body, rawBody) : rawBody === undefined || rawBody === null ? undefined : validate(batchNoBody, rawBody);
    const query = o.query ? validate(o.query, rawQuery ?? {}, "query") : undefined;
    return o.run(deps, { params, body: body as never, query: query as never, ip });
  };

  router.use(SERVER_PREFIX, jsonBodyOf(SERVER_LIMITS.bodyBytes), (req, res, next) => void authenticate(req, res, next).catch(next));

  for (const { op: o } of matchers) {
    const expressPath = SERVER_PREFIX + o.path.replace(/\{(\w+)\}/g, ":$1");
    router[o.method](expressPath, async (req, res) => {
      const outcome = await execute(res.locals.serverKey as ServerKeyRow, o, { ...req.params } as Record<string, string>, req.body, req.query, req.ip ?? null);
      for (const [name, value] of Object.entries(outcome.headers ?? {})) res.setHeader(name, value);
      if (outcome.body === undefined) res.status(outcome.status).end();
      else res.status(outcome.status).json(outcome.body);
    });
  }

  router.post(`${SERVER_PREFIX}/batch`, async (req, res) => {
    const { calls } = validate(batchBody, req.body);
    const key = res.locals.serverKey as ServerKeyRow;
    const results: { status: number; body?: unknown }[] = [];
    for (const call of calls) {
      const path = call.path.startsWith(SERVER_PREFIX) ? call.path.slice(SERVER_PREFIX.length) : call.path;
      const method = call.method.toLowerCase();
      const [pathname, search] = [path.split("?")[0]!, path.split("?").slice(1).join("?")];
      try {
        const found = matchers.map((m) => ({ op: m.op, params: m.op.method === method ? m.match(pathname) : undefined })).find((m) => m.params);
        if (!found) throw new AppError("not_found", 404, `No server API call ${call.method} ${call.path}`);
        const outcome = await execute(key, found.op, found.params!, call.body, Object.fromEntries(new URLSearchParams(search)), req.ip ?? null);
        results.push(outcome.body === undefined ? { status: outcome.status } : { status: outcome.status, body: outcome.body });
      } catch (err) {
        const error = asAppError(err, deps.logger, req.id);
        results.push({ status: error.status, body: error.toProblem() });
      }
    }
    res.json({ results });
  });

  router.use(SERVER_PREFIX, (_req: Request, res: Response) => sendProblem(res, new AppError("not_found", 404, "No such server API call")));
  return router;
}

/** A call that takes no body is given none (or an empty object). */
const batchNoBody = batchBody.pick({}).strict();

/** last_used_at is informational: written at most once a minute per key per replica, off the request path. */
function noteUse(db: Db, key: ServerKeyRow, lastUsed: Map<string, number>): void {
  const now = Date.now();
  if (now - (lastUsed.get(key.id) ?? 0) < LAST_USED_RESOLUTION_MS) return;
  lastUsed.set(key.id, now);
  if (lastUsed.size > 10_000) lastUsed.clear();
  db.updateTable("server_keys").set({ last_used_at: new Date(now) }).where("id", "=", key.id).execute().catch(() => undefined);
}

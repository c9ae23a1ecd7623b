import { type RequestHandler, Router } from "express";
import { loginBody, refreshBody } from "../../shared/contract/requests";
import { isUuid } from "../../shared/contract/validation";
import { AppError } from "../../shared/contract/errors";
import { caller } from "../http/auth";
import { validate } from "../http/validate";
import { type DeviceTokens, deviceValue, sendDevice } from "./devices";
import { list, login, logout, refresh, revokeAll, revokeOne, type SessionDeps } from "./sessions.service";


export function sessionsRoutes(deps: SessionDeps & { requireAuth: RequestHandler; devices: DeviceTokens }): Router {
  const router = Router();

  router.post("/login", async (req, res) => {
    const { username, password } = validate(loginBody, req.body);
    const userAgent = req.get("user-agent")?.slice(0, 512) ?? null;
    const device = deps.devices.read(deviceValue(req));
    const { result, device: known } = await login(deps, username, password, { userAgent, ip: req.ip ?? null, device });
    sendDevice(req, res, deps.devices.issue(known.userId, known.deviceId));
    res.json(result);
  });

  router.post("/token/refresh", async (req, res) => {
    const { refresh_token } = validate(refreshBody, req.body);
    res.json(await refresh(deps, refresh_token));
  });

  router.post("/logout", deps.requireAuth, async (_req, res) => {
    await logout(deps, caller(res));
    res.status(204).end();
  });

  router.get("/sessions", deps.requireAuth, async (_req, res) => {
    res.json({ sessions: await list(deps, caller(res)) });
  });

  router.delete("/sessions", deps.requireAuth, async (_req, res) => {
    await revokeAll(deps, caller(res));
    res.status(204).end();
  });

  router.delete("/sessions/:id", deps.requireAuth, async (req, res) => {
    const id = req.params.id;
    if (!isUuid(id)) throw new AppError("not_found", 404, "No such active session");
    await revokeOne(deps, caller(res), id);
    res.status(204).end();
  });

  return router;
}

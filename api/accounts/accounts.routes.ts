import { type RequestHandler, Router } from "express";
import { passwordBody, registerBody } from "../../shared/contract/requests";
import { caller } from "../http/auth";
import { validate } from "../http/validate";
import type { SessionDeps } from "../sessions/sessions.service";
import { type AccountDeps, changePassword, me, register } from "./accounts.service";

export function accountsRoutes(deps: AccountDeps & Pick<SessionDeps, "limiter" | "loginOutcomes" | "bus"> & { requireAuth: RequestHandler }): Router {
  const router = Router();

  router.post("/register", async (req, res) => {
    const input = validate(registerBody, req.body);
    res.status(201).json({ user: await register(deps, input, req.ip ?? "unknown") });
  });

  router.get("/me", deps.requireAuth, async (_req, res) => {
    res.json({ user: await me(deps.db, caller(res).userId) });
  });

  router.put("/me/password", deps.requireAuth, async (req, res) => {
    const input = validate(passwordBody, req.body);
    await changePassword(deps, caller(res), input, req.ip ?? "unknown");
    res.status(204).end();
  });

  return router;
}

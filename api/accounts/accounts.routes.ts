import { type RequestHandler, Router } from "express";
import { z } from "zod";
import type { Db } from "../../shared/db/db";
import { text } from "../../shared/validation";
import { caller } from "../http/auth";
import { validate } from "../http/validate";
import { me, register } from "./accounts.service";
import type { PasswordHasher } from "./password";
import type { StrengthChecker } from "./strength-worker";

export const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;

const registerBody = z.strictObject({
  username: z.string().regex(USERNAME_RE, "must be 3 to 32 characters of A-Z a-z 0-9 _ . -"),
  email: z.email({ message: "must be a valid email address" }).max(254, "must be at most 254 characters"),
  password: text(8, 128),
});

export function accountsRoutes(deps: { db: Db; hasher: PasswordHasher; strength: StrengthChecker; requireAuth: RequestHandler }): Router {
  const router = Router();

  router.post("/register", async (req, res) => {
    const input = validate(registerBody, req.body);
    res.status(201).json({ user: await register(deps, input) });
  });

  router.get("/me", deps.requireAuth, async (_req, res) => {
    res.json({ user: await me(deps.db, caller(res).userId) });
  });

  return router;
}

import { type RequestHandler, Router } from "express";
import { AppError } from "../../shared/contract/errors";
import { isUuid } from "../../shared/contract/validation";
import { caller } from "../http/auth";
import { block, type BlockDeps, listBlocks, unblock } from "./blocks.service";

/** `PUT`/`DELETE /me/blocks/:user_id`, `GET /me/blocks`. */
export function blocksRoutes(deps: BlockDeps & { requireAuth: RequestHandler }): Router {
  const router = Router();
  const auth = deps.requireAuth;
  const userId = (value: unknown): string => {
    if (!isUuid(value)) throw new AppError("not_found", 404, "No such user");
    return value.toLowerCase();
  };

  router.get("/me/blocks", auth, async (_req, res) => {
    res.json({ blocks: await listBlocks(deps.db, caller(res).userId) });
  });

  router.put("/me/blocks/:user_id", auth, async (req, res) => {
    res.json({ block: await block(deps, caller(res).userId, userId(req.params.user_id)) });
  });

  router.delete("/me/blocks/:user_id", auth, async (req, res) => {
    await unblock(deps, caller(res).userId, userId(req.params.user_id));
    res.status(204).end();
  });

  return router;
}

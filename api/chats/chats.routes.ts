import { type RequestHandler, Router } from "express";
import { AppError } from "../../shared/contract/errors";
import { createChatBody as createBody, historyQuery, inviteBody, invitesQuery, postMessageBody as messageBody } from "../../shared/contract/requests";
import { isUuid } from "../../shared/contract/validation";
import { caller } from "../http/auth";
import { validate } from "../http/validate";
import * as chats from "./chats.service";

/** Path ids that are not UUIDs can name nothing: 404 before any query. Lower-cased, as every id the services pass on. */
function id(value: unknown, what: string): string {
  if (!isUuid(value)) throw new AppError("not_found", 404, `No such ${what}`);
  return value.toLowerCase();
}

export function chatsRoutes(deps: chats.ChatDeps & { requireAuth: RequestHandler }): Router {
  const router = Router();
  const auth = deps.requireAuth;

  router.post("/chats", auth, async (req, res) => {
    const body = validate(createBody, req.body);
    res.status(201).json({ chat: await chats.createChat(deps, caller(res).userId, body.name, body.members) });
  });

  router.get("/chats", auth, async (_req, res) => {
    res.json({ chats: await chats.listChats(deps, caller(res).userId) });
  });

  router.get("/chats/:id", auth, async (req, res) => {
    res.json(await chats.getChat(deps, caller(res).userId, id(req.params.id, "chat")));
  });

  router.post("/chats/:id/invites", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const body = validate(inviteBody, req.body);
    res.status(201).json({ invite: await chats.invite(deps, caller(res).userId, chatId, body.username) });
  });

  router.delete("/chats/:id/members/:userId", auth, async (req, res) => {
    await chats.removeMember(deps, caller(res).userId, id(req.params.id, "chat"), id(req.params.userId, "member"));
    res.status(204).end();
  });

  router.get("/chats/:id/messages", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const q = validate(historyQuery, req.query, "query");
    res.json({ messages: await chats.history(deps, caller(res).userId, chatId, q) });
  });

  router.post("/chats/:id/messages", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const body = validate(messageBody, req.body);
    res.status(201).json({ message: await chats.postMessage(deps, caller(res).userId, chatId, body.text, body.client_id) });
  });

  router.get("/chats/:id/presence", auth, async (req, res) => {
    res.json(await chats.presence(deps, caller(res).userId, id(req.params.id, "chat")));
  });

  router.get("/chats/:id/invites", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const q = validate(invitesQuery, req.query, "query");
    res.json(await chats.listChatInvites(deps, caller(res).userId, chatId, q));
  });

  router.delete("/invites/:id", auth, async (req, res) => {
    await chats.withdrawInvite(deps, caller(res).userId, id(req.params.id, "invite"));
    res.status(204).end();
  });

  router.get("/invites", auth, async (req, res) => {
    res.json(await chats.listInvites(deps, caller(res).userId, validate(invitesQuery, req.query, "query")));
  });

  router.post("/invites/:id/accept", auth, async (req, res) => {
    res.json({ chat: await chats.acceptInvite(deps, caller(res).userId, id(req.params.id, "invite")) });
  });

  router.post("/invites/:id/decline", auth, async (req, res) => {
    await chats.declineInvite(deps, caller(res).userId, id(req.params.id, "invite"));
    res.status(204).end();
  });

  return router;
}

import { type RequestHandler, Router } from "express";
import { AppError } from "../../shared/contract/errors";
import {
  createChatBody as createBody,
  editMessageBody,
  historyQuery,
  inviteBody,
  invitesQuery,
  postMessageBody as messageBody,
  reactBody,
  readBody,
  reportBody,
  reportsQuery,
  resolveReportBody,
} from "../../shared/contract/requests";
import { isMessageId, isUuid } from "../../shared/contract/validation";
import * as changes from "./message-changes.service";
import * as reports from "../moderation/reports.service";
import { caller } from "../http/auth";
import { validate } from "../http/validate";
import * as chats from "./chats.service";

/** Path ids that are not UUIDs can name nothing: 404 before any query. Lower-cased, as every id the services pass on. */
function id(value: unknown, what: string): string {
  if (!isUuid(value)) throw new AppError("not_found", 404, `No such ${what}`);
  return value.toLowerCase();
}

/** A path's message id: anything else names no message (404). */
function messageId(value: unknown): string {
  if (!isMessageId(value)) throw new AppError("not_found", 404, "No such message");
  return value;
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

  router.put("/chats/:id/read", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const body = validate(readBody, req.body);
    res.json(await changes.markChatRead(deps, caller(res).userId, chatId, body.message_id));
  });

  router.patch("/chats/:id/messages/:message_id", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const mid = messageId(req.params.message_id);
    const body = validate(editMessageBody, req.body);
    res.json({ message: await changes.editMessage(deps, caller(res).userId, chatId, mid, body.text) });
  });

  router.delete("/chats/:id/messages/:message_id", auth, async (req, res) => {
    await changes.deleteMessage(deps, caller(res).userId, id(req.params.id, "chat"), messageId(req.params.message_id));
    res.status(204).end();
  });

  router.post("/chats/:id/messages/:message_id/reactions", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const mid = messageId(req.params.message_id);
    const body = validate(reactBody, req.body);
    res.json(await changes.reactToMessage(deps, caller(res).userId, chatId, mid, body.emoji, body.on));
  });

  router.post("/chats/:id/messages/:message_id/report", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const mid = messageId(req.params.message_id);
    const body = validate(reportBody, req.body);
    const userId = caller(res).userId;
    await chats.requireMember(deps.db, chatId, userId);
    await deps.changeLimit.take(userId);
    const { report, created } = await reports.reportMessage(deps.db, userId, chatId, mid, body.reason);
    res.status(created ? 201 : 200).json({ report });
  });

  router.get("/chats/:id/reports", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const q = validate(reportsQuery, req.query, "query");
    await requireOwner(deps, chatId, caller(res).userId);
    res.json({ reports: await reports.listReports(deps.db, q, chatId) });
  });

  router.post("/chats/:id/reports/:report_id/resolve", auth, async (req, res) => {
    const chatId = id(req.params.id, "chat");
    const reportId = id(req.params.report_id, "report");
    const body = validate(resolveReportBody, req.body ?? {});
    const userId = caller(res).userId;
    await requireOwner(deps, chatId, userId);
    res.json({ report: await reports.resolveReport(deps, reportId, { chatId, resolverId: userId, resolution: body.resolution, deleteMessage: body.delete_message }) });
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

/** Reports are the owner's to read and resolve: 404 to non-members (as every chat call), 403 to other members. */
async function requireOwner(deps: chats.ChatDeps, chatId: string, userId: string): Promise<void> {
  if ((await chats.requireMember(deps.db, chatId, userId)) !== "owner") throw new AppError("forbidden", 403, "Only the chat's owner handles its reports");
}

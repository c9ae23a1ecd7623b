/**
 * The demo page served at `/`: sign up, log in, chats with unread badges and invites (live), a live
 * room (history, presence, typing, "seen by", edits, deletions, reactions, blocks and reports) and
 * the user's sessions with revoke, on the typed client. Nothing polls: the socket's events keep the
 * page current, and the lists are read again when the page is shown again. Plain DOM, no framework;
 * only type imports from shared/, so the bundle stays free of zod. This module owns the login: forms,
 * the socket, the session's end, and resuming it after a reload; the login is one for all the
 * page's tabs (login-store.ts), so a login, a refresh or a logout in one tab is every tab's.
 */
import { ApiError, type ChatSocket, createClient, type StoredTokens } from "../../index";
import type { UserView } from "../../../shared/contract/views";
import { createBlocks } from "./blocks";
import { createLists } from "./lists";
import { loginStore } from "./login-store";
import { type DemoContext, describe, field, h, ui } from "./page";
import { createRoom } from "./room";

type Status = "connecting" | "connected" | "reconnecting" | "ended" | "offline";
type EndReason = "revoked" | "expired" | "logged_out";

const store = loginStore();
const client = createClient({ url: location.origin, tokenStore: store });
let me: UserView | null = null;
let socket: ChatSocket | null = null;

const ctx: DemoContext = {
  client,
  get me() {
    return me;
  },
  get socket() {
    return socket;
  },
  report(err, where) {
    // The client ends the session itself on these; this is the page's safety net.
    if (err instanceof ApiError && (err.code === "session_revoked" || err.code === "unauthorized")) {
      return endSession(err.code === "session_revoked" ? "revoked" : "expired");
    }
    where.textContent = describe(err);
  },
};
const blocks = createBlocks(ctx, (user, blocked) => {
  room.blocksChanged(user, blocked);
  void lists.loadChats(); // the badges leave out the messages of users the user blocks
});
const room = createRoom(ctx, blocks, { changed: () => lists.renderChats(), read: (chatId, messageId) => lists.markRead(chatId, messageId) });
const lists = createLists(ctx, () => room, blocks);

// A login here, or one another tab made (the client takes it from the store): the page signs in.
client.on("tokens", (tokens: StoredTokens | null) => {
  if (tokens) startSession(tokens.user);
});
client.on("ended", (info) => endSession(info.reason));

const STATUS_TEXT: Record<Status, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  ended: "Session ended",
  offline: "Offline",
};
function setStatus(status: Status): void {
  ui.connection.dataset.status = status;
  ui.connection.textContent = STATUS_TEXT[status];
}

function startSession(user: UserView): void {
  if (me) return;
  me = user;
  ui.sessionEnded.replaceChildren();
  ui.loginError.textContent = "";
  ui.whoamiName.textContent = user.username;
  ui.whoami.hidden = false;
  ui.auth.hidden = true;
  ui.app.hidden = false;
  connectSocket();
  void blocks.load().then(() => lists.loadChats()); // the room hides the messages of blocked users
  void lists.loadInvites();
  void lists.loadSessions();
}

// Back to the page after a while (another tab, a sleeping laptop): what no event tells is read again
// (sessions, a chat created on another device), and what the room shows now counts as read.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible" || !me) return;
  void lists.loadSessions();
  void lists.loadChats();
  void lists.loadInvites();
  room.shown();
});

/** Back to the login form; for a revoked or expired session, with a prominent alert saying so. */
function endSession(reason: EndReason): void {
  if (!me) return;
  me = null;
  socket?.close();
  socket = null;
  room.close();
  lists.clear();
  blocks.clear();
  setStatus(reason === "logged_out" ? "offline" : "ended");
  ui.whoami.hidden = true;
  ui.app.hidden = true;
  ui.auth.hidden = false;
  if (reason !== "logged_out") {
    const why = reason === "revoked" ? "It was signed out from another device, or the password was changed." : "It expired.";
    ui.sessionEnded.replaceChildren(h("strong", {}, `Your session was ended (${reason}).`), ` ${why} Log in again to continue.`);
  }
  ui.loginUsername.focus();
}

function connectSocket(): void {
  const s = client.connect();
  socket = s;
  setStatus(s.connected ? "connected" : "connecting");
  s.on("status", (status) => {
    if (socket !== s) return;
    // Connected, at first or after a drop: what came before the socket was there is read again
    // (invites and added chats are not replayed; the chats' messages and changes are).
    if (status === "connected" && ui.connection.dataset.status !== "connected") {
      void lists.loadChats();
      void lists.loadInvites();
    }
    setStatus(status);
  });
  s.on("ended", (info) => endSession(info.reason));
  s.on("error", (err) => (ui.notice.textContent = err.message));
  lists.attach(s); // first: a message counts in its chat's badge before the room marks it read
  room.attach(s);
}

ui.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  ui.loginError.textContent = "";
  const button = ui.loginForm.querySelector("button")!;
  button.disabled = true;
  try {
    await client.login({ username: field(ui.loginForm, "username"), password: String(new FormData(ui.loginForm).get("password") ?? "") });
    ui.loginForm.reset(); // the tokens event started the session
  } catch (err) {
    ui.loginError.textContent = describe(err);
  } finally {
    button.disabled = false;
  }
});

// Registering logs in with the same credentials right away.
ui.registerForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  ui.registerError.textContent = "";
  ui.registerOk.textContent = "";
  ui.passwordFeedback.hidden = true;
  const username = field(ui.registerForm, "username");
  const password = String(new FormData(ui.registerForm).get("password") ?? "");
  const button = ui.registerForm.querySelector("button")!;
  button.disabled = true;
  try {
    await client.register({ username, email: field(ui.registerForm, "email"), password });
    ui.registerOk.textContent = `Account ${username} created. Logging in…`;
    await client.login({ username, password });
    ui.registerForm.reset();
    ui.registerOk.textContent = "";
  } catch (err) {
    if (err instanceof ApiError && err.code === "weak_password") showFeedback(err);
    ui.registerError.textContent = describe(err);
  } finally {
    button.disabled = false;
  }
});

/** zxcvbn's verdict, as the api sends it with weak_password. */
function showFeedback(err: ApiError): void {
  const feedback = (err.problem.feedback ?? {}) as { score?: number; warning?: string; suggestions?: string[] };
  ui.passwordScore.textContent = String(feedback.score ?? "?");
  ui.passwordWarning.textContent = feedback.warning ?? "";
  ui.passwordWarning.hidden = !feedback.warning;
  ui.passwordSuggestions.replaceChildren(...(feedback.suggestions ?? []).map((s) => h("li", {}, s)));
  ui.passwordFeedback.hidden = false;
}

ui.logout.addEventListener("click", async () => {
  try {
    await client.logout();
  } catch {
    // Over on the server already, or unreachable: the page signs out either way.
  }
  endSession("logged_out");
});

// Resume the tabs' login (the client refreshes it when needed), unless one was taken from the store meanwhile.
void Promise.resolve(store.load()).then(
  (saved) => {
    if (!saved || client.tokens) return;
    client.restore(saved);
    startSession(saved.user);
  },
  () => undefined, // no stored login to read: the login form it is
);

/**
 * The sidebar: your chats with their unread badges and last message, invites for you, your sessions
 * with revoke. Nothing polls: chats and invites follow the socket's events, and everything is read
 * again when the page is shown again or the socket comes back after a drop (demo.ts).
 */
import { type ChatSocket, compareIds } from "../../index";
import type { ChatSummaryView, InviteView, MessageView, SessionView } from "../../../shared/contract/views";
import type { Blocks } from "./blocks";
import { dateTimeOf, type DemoContext, field, h, keepFocus, ui } from "./page";
import type { RoomView } from "./room";

/** LIMITS.unreadCap: the api counts up to it (views.ts is not imported: it would bring zod into the bundle). */
const UNREAD_CAP = 1000;
/**
 * The socket joins this many chats (the newest) to keep their badges live: every event a socket
 * sends is rate-limited (30 at once, then 10 a second by default). The others' badges are as
 * of the last time the list was read.
 */
const LIVE_CHATS = 25;

export interface Lists {
  loadChats(): Promise<void>;
  /** Marks the open chat in the list. */
  renderChats(): void;
  /** The user saw the chat up to `messageId`: its badge clears and the read position moves forward (`chat:read`). */
  markRead(chatId: string, messageId: string): void;
  loadInvites(): Promise<void>;
  loadSessions(): Promise<void>;
  /** Routes a new socket's events here. */
  attach(socket: ChatSocket): void;
  clear(): void;
}

/** "Firefox 128 on Linux" from a user agent string (the full string is shown below it). */
function deviceOf(ua: string | null): string {
  if (!ua) return "Unknown device";
  const browser = /(Edg|OPR|Firefox|HeadlessChrome|Chrome|Version(?=\/[\d.]+ .*Safari))\/(\d+)/.exec(ua);
  const os = /(Windows|Android|iPhone|iPad|Mac OS X|CrOS|Linux)/.exec(ua);
  const names: Record<string, string> = { Edg: "Edge", OPR: "Opera", Version: "Safari", "Mac OS X": "macOS", CrOS: "ChromeOS" };
  if (!browser) return ua.length > 40 ? `${ua.slice(0, 40)}…` : ua;
  const name = `${names[browser[1]!] ?? browser[1]} ${browser[2]}`;
  return os ? `${name} on ${names[os[1]!] ?? os[1]}` : name;
}

const isAfter = (id: string, than: string | null | undefined) => !than || compareIds(id, than) > 0;

export function createLists(ctx: DemoContext, room: () => RoomView, blocks: Blocks): Lists {
  let chats: ChatSummaryView[] = [];
  let invites: InviteView[] = [];
  /** Per chat, the last message the list was read with: messages up to it are counted in its badge already. */
  let listedUpTo = new Map<string, string | null>();
  /** Messages counted since, so that each counts once (a catch-up after a drop repeats none, but the list may be read meanwhile). */
  let counted = new Set<string>();
  /** Messages that came while the list was being read: counted again on top of it if it did not count them. */
  let arrivedWhileLoading: MessageView[] | null = null;
  let reloadTimer: ReturnType<typeof setTimeout> | undefined;
  /** The latest read of the list: an earlier one answered after it is stale. */
  let loads = 0;

  /** Loads a list and shows it; a failure is told in the notice (or ends the session). */
  async function refresh<T>(load: () => Promise<T[]>, show: (items: T[]) => void): Promise<void> {
    let items: T[];
    try {
      items = await load();
    } catch (err) {
      return ctx.report(err, ui.notice);
    }
    if (ctx.me) show(items);
  }

  async function loadChats(): Promise<void> {
    clearTimeout(reloadTimer);
    const load = ++loads;
    const arrived: MessageView[] = [];
    arrivedWhileLoading = arrived;
    await refresh(
      () => ctx.client.chats.list(),
      (loaded) => {
        if (load !== loads) return;
        chats = loaded;
        listedUpTo = new Map(loaded.map((c) => [c.id, c.last_message?.id ?? null]));
        counted = new Set();
        for (const m of arrived) count(m);
        renderChats();
        void follow();
      },
    );
    if (arrivedWhileLoading === arrived) arrivedWhileLoading = null;
  }

  /** Reads the list again soon (several events in a row make one request): for what the events cannot tell exactly. */
  function reloadSoon(): void {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => void loadChats(), 300);
  }

  /**
   * Joins the newest chats on the socket, one at a time: their messages and changes then reach the
   * page. A first join starts after the last message the list showed, so none is missed in between.
   */
  async function follow(): Promise<void> {
    const socket = ctx.socket;
    for (const chat of chats.slice(0, LIVE_CHATS)) {
      if (!socket || ctx.socket !== socket) return;
      try {
        await socket.join(chat.id, chat.last_message ? { after: chat.last_message.id } : {}); // nothing when joined already
      } catch {
        // Left or removed meanwhile (chat:removed reads the list again), or the socket closed.
      }
    }
  }

  const badgeText = (n: number) => (n >= UNREAD_CAP ? `${UNREAD_CAP - 1}+` : String(n));

  function preview(m: MessageView | null): string {
    if (!m) return "No messages yet";
    const who = m.sender.id === ctx.me?.id ? "You" : m.sender.username;
    return m.deleted ? `${who}: message deleted` : `${who}: ${m.text.replace(/\s+/g, " ")}`;
  }

  function renderChats(): void {
    ui.chatsEmpty.hidden = chats.length > 0;
    keepFocus(ui.chats, () =>
      ui.chats.replaceChildren(
        ...chats.map((chat) => {
          const unread = chat.unread_count;
          const button = h(
            "button",
            { type: "button", className: "chat", dataset: { chatId: chat.id, unread: String(unread), focus: `chat:${chat.id}` } },
            h(
              "span",
              { className: "chat-line" },
              h("span", { className: "chat-name" }, chat.name),
              unread > 0 ? h("span", { className: "unread", dataset: { testid: "unread" } }, badgeText(unread), h("span", { className: "visually-hidden" }, " unread")) : "",
            ),
            h("small", { className: "preview", dataset: { testid: "preview" } }, preview(chat.last_message)),
          );
          if (room().currentId === chat.id) button.setAttribute("aria-current", "true");
          button.addEventListener("click", () => void room().open(chat));
          return h("li", {}, button);
        }),
      ),
    );
  }

  /** A new message: the chat's last one, and unread unless it is the user's own or read already. */
  function count(m: MessageView): void {
    const chat = chats.find((c) => c.id === m.chat_id);
    if (!chat || counted.has(m.id) || !isAfter(m.id, listedUpTo.get(chat.id)) || blocks.has(m.sender.id)) return;
    counted.add(m.id);
    if (isAfter(m.id, chat.last_message?.id)) chat.last_message = m;
    if (m.sender.id !== ctx.me?.id && !m.deleted && isAfter(m.id, chat.read_message_id)) chat.unread_count = Math.min(UNREAD_CAP, chat.unread_count + 1);
  }

  /** The user's read position in the chat moved to `messageId` (here, or on another device). */
  function advance(chat: ChatSummaryView, messageId: string): boolean {
    if (!isAfter(messageId, chat.read_message_id)) return false;
    chat.read_message_id = messageId;
    if (!isAfter(chat.last_message?.id ?? "0", messageId)) chat.unread_count = 0;
    else if (chat.unread_count > 0) reloadSoon(); // read part of it: the api counts what is left
    return true;
  }

  function markRead(chatId: string, messageId: string): void {
    const chat = chats.find((c) => c.id === chatId);
    if (chat && !advance(chat, messageId)) return;
    renderChats();
    void ctx.socket?.read(chatId, messageId).catch((err: unknown) => ctx.report(err, ui.notice));
  }

  ui.createChatForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    ui.createChatError.textContent = "";
    const members = field(ui.createChatForm, "members")
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean);
    try {
      const chat = await ctx.client.chats.create({ name: field(ui.createChatForm, "name"), members });
      ui.createChatForm.reset();
      await loadChats();
      await room().open(chat);
    } catch (err) {
      ctx.report(err, ui.createChatError);
    }
  });

  const loadInvites = () => refresh(() => ctx.client.invites.list(), showInvites);

  function showInvites(list: InviteView[]): void {
    invites = list;
    // Re-rendering would take the focus off an Accept button: skip it when nothing changed.
    const key = invites.map((i) => i.id).join();
    if (ui.invites.dataset.key === key) return;
    ui.invites.dataset.key = key;
    ui.invitesEmpty.hidden = invites.length > 0;
    keepFocus(ui.invites, () => ui.invites.replaceChildren(...invites.map(renderInvite)));
  }

  function renderInvite(invite: InviteView): HTMLLIElement {
    const accept = h("button", { type: "button", className: "small", dataset: { focus: `accept:${invite.id}` } }, "Accept");
    const decline = h("button", { type: "button", className: "small secondary", dataset: { focus: `decline:${invite.id}` } }, "Decline");
    accept.setAttribute("aria-label", `Accept invite to ${invite.chat.name}`);
    decline.setAttribute("aria-label", `Decline invite to ${invite.chat.name}`);
    const answered = () => showInvites(invites.filter((i) => i.id !== invite.id));
    accept.addEventListener("click", async () => {
      try {
        const chat = await ctx.client.invites.accept(invite.id);
        answered();
        await loadChats();
        await room().open(chat);
      } catch (err) {
        ctx.report(err, ui.notice);
        void loadInvites();
      }
    });
    decline.addEventListener("click", async () => {
      try {
        await ctx.client.invites.decline(invite.id);
        answered();
      } catch (err) {
        ctx.report(err, ui.notice);
        void loadInvites();
      }
    });
    return h(
      "li",
      { dataset: { testid: "invite", inviteId: invite.id } },
      h("span", {}, h("strong", {}, invite.chat.name), ` from ${invite.inviter.username}`),
      h("span", { className: "actions" }, accept, decline),
    );
  }

  const loadSessions = () => refresh(() => ctx.client.sessions.list(), (sessions) => ui.sessions.replaceChildren(...sessions.map(renderSession)));

  function renderSession(s: SessionView): HTMLLIElement {
    const revoke = h("button", { type: "button", className: "small danger" }, "Revoke");
    revoke.setAttribute("aria-label", s.current ? "Revoke this device's session (signs you out here)" : `Revoke the session signed in ${dateTimeOf(s.created_at)}`);
    revoke.addEventListener("click", async () => {
      revoke.disabled = true;
      try {
        await ctx.client.sessions.revoke(s.id);
        ui.notice.textContent = "Session revoked.";
      } catch (err) {
        ctx.report(err, ui.notice);
      }
      if (ctx.me) void loadSessions();
    });
    return h(
      "li",
      { className: "session", dataset: { testid: "session", sessionId: s.id, current: String(s.current) } },
      h(
        "div",
        {},
        h("strong", { className: "device" }, deviceOf(s.user_agent)),
        s.current ? h("span", { className: "badge" }, "this device") : "",
        h("small", {}, `Signed in ${dateTimeOf(s.created_at)}`, s.ip ? ` from ${s.ip}` : "", ` · last seen ${dateTimeOf(s.last_seen_at)}`),
        s.user_agent ? h("small", { className: "ua" }, s.user_agent) : "",
      ),
      revoke,
    );
  }

  // "Log out everywhere": every session of the account ends, this one too (the page shows why).
  ui.sessionsRevokeAll.addEventListener("click", async () => {
    try {
      await ctx.client.sessions.revokeAll();
    } catch (err) {
      ctx.report(err, ui.notice);
    }
  });

  function attach(socket: ChatSocket): void {
    socket.on("message", (m) => {
      arrivedWhileLoading?.push(m);
      count(m);
      renderChats();
    });
    // Read on another device (or in another tab): the badge follows.
    socket.on("message:read", (p) => {
      const chat = chats.find((c) => c.id === p.chat_id);
      if (p.user_id === ctx.me?.id && chat && advance(chat, p.message_id)) renderChats();
    });
    socket.on("message:updated", (m) => {
      const chat = chats.find((c) => c.id === m.chat_id);
      if (chat?.last_message?.id !== m.id) return;
      chat.last_message = m;
      renderChats();
    });
    socket.on("message:deleted", (p) => {
      const chat = chats.find((c) => c.id === p.chat_id);
      if (!chat) return;
      if (chat.last_message?.id === p.message_id) chat.last_message = { ...chat.last_message, deleted: true, text: "", reactions: [] };
      if (chat.unread_count > 0 && isAfter(p.message_id, chat.read_message_id)) reloadSoon(); // an unread one may be gone
      renderChats();
    });
    socket.on("invite:new", (invite) => {
      if (!invites.some((i) => i.id === invite.id)) showInvites([...invites, invite]);
    });
    // Answered on any device, withdrawn, or cancelled as its inviter left.
    socket.on("invite:closed", (closed) => showInvites(invites.filter((i) => i.id !== closed.id)));
    socket.on("chat:added", () => void loadChats());
    socket.on("chat:removed", () => void loadChats());
  }

  return {
    loadChats,
    renderChats,
    markRead,
    loadInvites,
    loadSessions,
    attach,
    clear() {
      clearTimeout(reloadTimer);
      chats = [];
      invites = [];
      listedUpTo = new Map();
      counted = new Set();
      ui.chats.replaceChildren();
      ui.invites.replaceChildren();
      delete ui.invites.dataset.key;
      ui.sessions.replaceChildren();
    },
  };
}

/** The sidebar: your chats (and a new one), invites for you, your sessions with revoke. */
import type { ChatView, InviteView, SessionView } from "../../../shared/contract/views";
import { dateTimeOf, type DemoContext, field, h, ui } from "./page";
import type { RoomView } from "./room";

export interface Lists {
  loadChats(): Promise<void>;
  /** Marks the open chat in the list. */
  renderChats(): void;
  loadInvites(): Promise<void>;
  loadSessions(): Promise<void>;
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

export function createLists(ctx: DemoContext, room: () => RoomView): Lists {
  let chats: ChatView[] = [];

  /** Loads a list and shows it; a failure is told in the notice (or ends the session). */
  async function refresh<T>(load: () => Promise<T[]>, show: (items: T[]) => void): Promise<void> {
    let items: T[];
    try {
      items = await load();
    } catch (err) {
      return ctx.report(err, ui.notice);
    }
    show(items);
  }

  const loadChats = () =>
    refresh(
      () => ctx.client.chats.list(),
      (loaded) => {
        chats = loaded;
        renderChats();
      },
    );

  function renderChats(): void {
    ui.chatsEmpty.hidden = chats.length > 0;
    ui.chats.replaceChildren(
      ...chats.map((chat) => {
        const button = h("button", { type: "button", className: "chat", dataset: { chatId: chat.id } }, chat.name);
        if (room().currentId === chat.id) button.setAttribute("aria-current", "true");
        button.addEventListener("click", () => void room().open(chat));
        return h("li", {}, button);
      }),
    );
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

  function showInvites(invites: InviteView[]): void {
    // Re-rendering would take the focus off an Accept button: skip it when nothing changed.
    const key = invites.map((i) => i.id).join();
    if (ui.invites.dataset.key === key) return;
    ui.invites.dataset.key = key;
    ui.invitesEmpty.hidden = invites.length > 0;
    ui.invites.replaceChildren(...invites.map(renderInvite));
  }

  function renderInvite(invite: InviteView): HTMLLIElement {
    const accept = h("button", { type: "button", className: "small" }, "Accept");
    const decline = h("button", { type: "button", className: "small secondary" }, "Decline");
    accept.setAttribute("aria-label", `Accept invite to ${invite.chat.name}`);
    decline.setAttribute("aria-label", `Decline invite to ${invite.chat.name}`);
    accept.addEventListener("click", async () => {
      try {
        const chat = await ctx.client.invites.accept(invite.id);
        await Promise.all([loadInvites(), loadChats()]);
        await room().open(chat);
      } catch (err) {
        ctx.report(err, ui.notice);
        void loadInvites();
      }
    });
    decline.addEventListener("click", async () => {
      try {
        await ctx.client.invites.decline(invite.id);
      } catch (err) {
        ctx.report(err, ui.notice);
      }
      void loadInvites();
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

  ui.chatsRefresh.addEventListener("click", () => void loadChats());
  ui.invitesRefresh.addEventListener("click", () => void loadInvites());
  ui.sessionsRefresh.addEventListener("click", () => void loadSessions());
  // "Log out everywhere": every session of the account ends, this one too (the page shows why).
  ui.sessionsRevokeAll.addEventListener("click", async () => {
    try {
      await ctx.client.sessions.revokeAll();
    } catch (err) {
      ctx.report(err, ui.notice);
    }
  });

  return {
    loadChats,
    renderChats,
    loadInvites,
    loadSessions,
    clear() {
      chats = [];
      ui.chats.replaceChildren();
      ui.invites.replaceChildren();
      delete ui.invites.dataset.key;
      ui.sessions.replaceChildren();
    },
  };
}

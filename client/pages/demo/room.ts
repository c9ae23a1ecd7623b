/** The open chat: live messages, history on scroll, presence, typing, sending and inviting. */
import type { ChatSocket } from "../../index";
import type { ChatView, MessageView, UserRef } from "../../../shared/contract/views";
import { type DemoContext, field, h, timeOf, ui } from "./page";

const PAGE = 50; // history page size (the api's default)
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOW_MS = 3000;

/** Message ids are decimal strings of a growing sequence: compare by length, then text. */
const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

interface Room {
  id: string;
  ids: Set<string>;
  oldest: string | null;
  hasMore: boolean;
  loadingOlder: boolean;
  online: Map<string, string>;
  /** Set when the chat is large enough to send counts instead of joins and leaves. */
  count: number | null;
  typers: Map<string, { username: string; timer: ReturnType<typeof setTimeout> }>;
  lastTypingSent: number;
}

export interface RoomView {
  readonly currentId: string | null;
  open(chat: ChatView): Promise<void>;
  close(): void;
  /** Routes a new socket's room events here. */
  attach(socket: ChatSocket): void;
}

/** `onChange` runs when the open chat changes (the chat list marks it). */
export function createRoom(ctx: DemoContext, onChange: () => void): RoomView {
  let room: Room | null = null;
  /** Whether the list is scrolled to its end: new messages and resizes keep it there. */
  let pinned = true;
  let typingTimer: ReturnType<typeof setTimeout> | undefined;

  function close(): void {
    if (!room) return;
    for (const t of room.typers.values()) clearTimeout(t.timer);
    clearTimeout(typingTimer);
    typingTimer = undefined;
    void ctx.socket?.leave(room.id).catch(() => undefined);
    room = null;
    ui.app.classList.remove("in-room");
    ui.roomTitle.textContent = "Pick a chat";
    ui.roomBody.hidden = true;
    ui.presence.textContent = "";
    ui.messages.replaceChildren();
    ui.typing.textContent = "";
    onChange();
  }

  async function open(chat: ChatView): Promise<void> {
    if (room?.id === chat.id) return void ui.roomTitle.focus();
    close();
    const r: Room = { id: chat.id, ids: new Set(), oldest: null, hasMore: false, loadingOlder: false, online: new Map(), count: null, typers: new Map(), lastTypingSent: 0 };
    room = r;
    ui.roomTitle.textContent = chat.name;
    ui.roomNotice.textContent = "";
    ui.roomBody.hidden = false;
    ui.roomBody.dataset.chatId = chat.id;
    ui.app.classList.add("in-room");
    onChange();
    renderOlderButton();
    ui.roomTitle.focus();
    try {
      if (!ctx.socket) throw new Error("Not connected");
      await ctx.socket.join(chat.id);
      const [history] = await Promise.all([ctx.client.chats.messages(chat.id, { limit: PAGE }), refreshPresence(r)]);
      if (room !== r) return;
      for (const m of history) addMessage(m, false);
      r.hasMore = history.length === PAGE;
      renderOlderButton();
      scrollToEnd();
    } catch (err) {
      if (room === r) ctx.report(err, ui.roomNotice);
    }
  }

  async function refreshPresence(r: Room): Promise<void> {
    try {
      const presence = await ctx.client.chats.presence(r.id);
      if (room !== r) return;
      r.online = new Map(presence.users.map((u: UserRef) => [u.id, u.username]));
      r.count = presence.count > presence.users.length ? presence.count : null;
      renderPresence();
    } catch (err) {
      if (room === r) ctx.report(err, ui.roomNotice);
    }
  }

  function renderPresence(): void {
    if (!room) return;
    const names = [...room.online].map(([id, name]) => (id === ctx.me?.id ? `${name} (you)` : name)).sort();
    ui.presence.textContent = room.count !== null ? `${room.count} online` : `Online (${names.length}): ${names.join(", ")}`;
  }

  /** Inserts a message in id order, once; returns whether it was new. */
  function addMessage(m: MessageView, live: boolean): boolean {
    if (!room || m.chat_id !== room.id || room.ids.has(m.id)) return false;
    room.ids.add(m.id);
    if (!room.oldest || compareIds(m.id, room.oldest) < 0) room.oldest = m.id;
    const mine = m.sender.id === ctx.me?.id;
    const item = h(
      "li",
      { className: mine ? "msg mine" : "msg", dataset: { testid: "message", id: m.id } },
      h("div", { className: "meta" }, h("span", { className: "sender" }, m.sender.username), " ", h("time", { dateTime: m.created_at }, timeOf(m.created_at))),
      h("p", { className: "text" }, m.text),
    );
    const after = [...ui.messages.children].find((li) => compareIds((li as HTMLElement).dataset.id!, m.id) > 0);
    ui.messages.insertBefore(item, after ?? null);
    if (live && !after && (pinned || mine)) scrollToEnd();
    if (live && !mine) {
      ui.announcer.append(h("p", {}, `${m.sender.username}: ${m.text}`));
      while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild!.remove();
    }
    return true;
  }

  function onMessage(m: MessageView): void {
    if (!addMessage(m, true) || !room) return;
    const typer = room.typers.get(m.sender.id);
    if (!typer) return;
    clearTimeout(typer.timer);
    room.typers.delete(m.sender.id);
    renderTyping();
  }

  function onTyping(p: { chat_id: string; user: UserRef }): void {
    const r = room;
    if (!r || p.chat_id !== r.id || p.user.id === ctx.me?.id) return;
    const previous = r.typers.get(p.user.id);
    if (previous) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      r.typers.delete(p.user.id);
      renderTyping();
    }, TYPING_SHOW_MS);
    r.typers.set(p.user.id, { username: p.user.username, timer });
    renderTyping();
  }

  function renderTyping(): void {
    const names = room ? [...room.typers.values()].map((t) => t.username) : [];
    ui.typing.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
  }

  function renderOlderButton(): void {
    const more = room?.hasMore ?? false;
    // aria-disabled rather than disabled: a focused button keeps its focus when history runs out.
    ui.loadOlder.setAttribute("aria-disabled", String(!more));
    ui.loadOlder.textContent = more ? "Load older messages" : "No older messages";
  }

  async function loadOlder(): Promise<void> {
    const r = room;
    if (!r || !r.hasMore || r.loadingOlder || !r.oldest) return;
    r.loadingOlder = true;
    ui.loadOlder.textContent = "Loading…";
    try {
      const older = await ctx.client.chats.messages(r.id, { before: r.oldest, limit: PAGE });
      if (room !== r) return;
      const height = ui.messages.scrollHeight;
      for (const m of older) addMessage(m, false);
      ui.messages.scrollTop += ui.messages.scrollHeight - height; // keep what was on screen in place
      r.hasMore = older.length === PAGE;
    } catch (err) {
      ctx.report(err, ui.roomNotice);
    } finally {
      r.loadingOlder = false;
      if (room === r) renderOlderButton();
    }
  }

  function scrollToEnd(): void {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    pinned = true;
  }
  new ResizeObserver(() => pinned && scrollToEnd()).observe(ui.messages);

  ui.loadOlder.addEventListener("click", () => void loadOlder());
  ui.messages.addEventListener("scroll", () => {
    pinned = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    if (ui.messages.scrollTop < 24) void loadOlder();
  });

  // chat:typing at most every 2 s while typing: the first keystroke goes at once, later ones within
  // the 2 s fold into one trailing send (so typing right after a send still shows up).
  function sendTyping(): void {
    typingTimer = undefined;
    if (!room || !ctx.socket || !ui.messageText.value) return;
    room.lastTypingSent = Date.now();
    void ctx.socket.typing(room.id).catch(() => undefined);
  }
  ui.messageText.addEventListener("input", () => {
    if (!room || typingTimer) return;
    const wait = room.lastTypingSent + TYPING_SEND_EVERY_MS - Date.now();
    if (wait <= 0) sendTyping();
    else typingTimer = setTimeout(sendTyping, wait);
  });

  ui.sendForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const r = room;
    const text = ui.messageText.value.trim();
    if (!r || !ctx.socket || !text) return;
    ui.messageText.value = "";
    ui.roomNotice.textContent = "";
    clearTimeout(typingTimer); // the message itself ends "is typing" on the other side
    typingTimer = undefined;
    try {
      addMessage(await ctx.socket.send(r.id, text), true);
    } catch (err) {
      if (!ui.messageText.value) ui.messageText.value = text; // give the text back to retry
      ctx.report(err, ui.roomNotice);
    }
  });

  ui.inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!room) return;
    const username = field(ui.inviteForm, "username");
    try {
      await ctx.client.chats.invite(room.id, username);
      ui.inviteForm.reset();
      ui.roomNotice.textContent = `Invited ${username}.`;
    } catch (err) {
      ctx.report(err, ui.roomNotice);
    }
  });

  function attach(socket: ChatSocket): void {
    socket.on("message", onMessage);
    socket.on("typing", onTyping);
    socket.on("presence:join", (p) => {
      if (room?.id !== p.chat_id) return;
      room.online.set(p.user.id, p.user.username);
      renderPresence();
    });
    socket.on("presence:leave", (p) => {
      if (room?.id !== p.chat_id) return;
      room.online.delete(p.user_id);
      renderPresence();
    });
    socket.on("presence:count", (p) => {
      if (room?.id !== p.chat_id) return;
      room.count = p.count;
      renderPresence();
    });
    socket.on("chat:removed", (p) => {
      if (room?.id !== p.chat_id) return;
      close();
      ui.notice.textContent = "You were removed from the chat.";
    });
    // Presence may have changed while the connection was down.
    socket.on("status", (status) => status === "connected" && room && void refreshPresence(room));
  }

  return {
    get currentId() {
      return room?.id ?? null;
    },
    open,
    close,
    attach,
  };
}

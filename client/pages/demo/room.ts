/**
 * The open chat: live messages, history on scroll, presence, typing, "seen by", sending and
 * inviting; each message's reactions, edit, delete, block and report (message-item.ts), and the
 * owner's reports (reports.ts). What is on screen while the page is visible counts as read.
 */
import { type ChatSocket, compareIds } from "../../index";
import type { ChatView, MemberView, MessageView, ReactionView, UserRef } from "../../../shared/contract/views";
import type { Blocks } from "./blocks";
import { type MessageActions, type MessageItem, messageItem } from "./message-item";
import { type DemoContext, field, h, ui } from "./page";
import { createReports } from "./reports";

const PAGE = 50; // history page size (the api's default)
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOW_MS = 3000;

const isAfter = (id: string, than: string | null | undefined) => !than || compareIds(id, than) > 0;

interface Room {
  chat: ChatView;
  id: string;
  items: Map<string, MessageItem>;
  oldest: string | null;
  newest: string | null;
  hasMore: boolean;
  loadingOlder: boolean;
  online: Map<string, string>;
  /** Set when the chat is large enough to send counts instead of joins and leaves. */
  count: number | null;
  typers: Map<string, { username: string; timer: ReturnType<typeof setTimeout> }>;
  lastTypingSent: number;
  /** The members and their read positions ("seen by"). */
  members: Map<string, { username: string; read: string | null }>;
  /** The user owns the chat: deletes anyone's message, sees the reports. */
  owner: boolean;
  actions: MessageActions;
}

export interface RoomView {
  readonly currentId: string | null;
  open(chat: ChatView): Promise<void>;
  close(): void;
  /** Routes a new socket's room events here. */
  attach(socket: ChatSocket): void;
  /** The page is visible again: what the room shows now is read. */
  shown(): void;
  /** The user blocked someone (their messages are hidden) or unblocked them (the chat is read again). */
  blocksChanged(user: UserRef, blocked: boolean): void;
}

export interface RoomHooks {
  /** The open chat changed (the chat list marks it). */
  changed(): void;
  /** The user saw the chat up to `messageId` (the list clears its badge and moves the read position). */
  read(chatId: string, messageId: string): void;
}

export function createRoom(ctx: DemoContext, blocks: Blocks, hooks: RoomHooks): RoomView {
  let room: Room | null = null;
  /** Whether the list is scrolled to its end: new messages and resizes keep it there. */
  let pinned = true;
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  const reports = createReports(ctx);

  function socket(): ChatSocket {
    if (!ctx.socket) throw new Error("Not connected");
    return ctx.socket;
  }

  function close(): void {
    if (!room) return;
    for (const t of room.typers.values()) clearTimeout(t.timer);
    clearTimeout(typingTimer);
    typingTimer = undefined;
    // The socket stays in the chat: its new messages keep the list's badge counting.
    room = null;
    reports.reset(null, false);
    ui.app.classList.remove("in-room");
    ui.roomTitle.textContent = "Pick a chat";
    ui.roomBody.hidden = true;
    ui.presence.textContent = "";
    ui.messages.replaceChildren();
    ui.typing.textContent = "";
    hooks.changed();
  }

  /** What a message's menu does in the room. */
  function actionsFor(of: () => Room): MessageActions {
    return {
      get me() {
        return ctx.me?.id;
      },
      get owner() {
        return of().owner;
      },
      async react(m, emoji, on) {
        const answer = await socket().react(of().id, m.id, emoji, on);
        setReactions(of(), answer.message_id, answer.reactions);
      },
      async edit(m, text) {
        update(of(), await socket().edit(of().id, m.id, text));
      },
      async remove(m) {
        await socket().delete(of().id, m.id);
        tombstone(of(), m.id);
      },
      async block(user) {
        await blocks.block(user); // blocksChanged hides their messages
        ui.roomNotice.textContent = `You blocked ${user.username}: you no longer see their messages. Unblock them under "Blocked users".`;
        ui.messages.focus();
      },
      async report(m, reason) {
        await ctx.client.chats.report(of().id, m.id, reason);
        ui.roomNotice.textContent = `Reported ${m.sender.username}'s message: the chat's owner will look at it.`;
      },
    };
  }

  async function open(chat: ChatView): Promise<void> {
    if (room?.id === chat.id) return void ui.roomTitle.focus();
    close();
    const r: Room = {
      chat,
      id: chat.id,
      items: new Map(),
      oldest: null,
      newest: null,
      hasMore: false,
      loadingOlder: false,
      online: new Map(),
      count: null,
      typers: new Map(),
      lastTypingSent: 0,
      members: new Map(),
      owner: false,
      actions: actionsFor(() => r),
    };
    room = r;
    ui.roomTitle.textContent = chat.name;
    ui.roomNotice.textContent = "";
    ui.roomBody.hidden = false;
    ui.roomBody.dataset.chatId = chat.id;
    ui.app.classList.add("in-room");
    hooks.changed();
    renderOlderButton();
    ui.roomTitle.focus();
    try {
      await socket().join(chat.id);
      const [history, detail] = await Promise.all([ctx.client.chats.messages(chat.id, { limit: PAGE }), ctx.client.chats.get(chat.id), refreshPresence(r)]);
      if (room !== r) return;
      setMembers(r, detail.members, true);
      for (const m of history) addMessage(m, false);
      r.hasMore = history.length === PAGE;
      renderOlderButton();
      scrollToEnd();
      renderSeen();
      markSeen();
    } catch (err) {
      if (room === r) ctx.report(err, ui.roomNotice);
    }
  }

  function setMembers(r: Room, members: MemberView[], first = false): void {
    r.members = new Map(members.map((m) => [m.user_id, { username: m.username, read: m.read_message_id }]));
    const owner = members.some((m) => m.user_id === ctx.me?.id && m.role === "owner");
    if (first || owner !== r.owner) reports.reset(r.id, owner);
    r.owner = owner;
  }

  /** A read position of someone not known yet (who joined since): the members are read again. */
  async function refreshMembers(r: Room): Promise<void> {
    try {
      const detail = await ctx.client.chats.get(r.id);
      if (room !== r) return;
      setMembers(r, detail.members);
      renderSeen();
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
    const r = room;
    if (!r || m.chat_id !== r.id || r.items.has(m.id)) return false;
    const item = messageItem(m, r.actions);
    r.items.set(m.id, item);
    if (!r.oldest || compareIds(m.id, r.oldest) < 0) r.oldest = m.id;
    if (isAfter(m.id, r.newest)) r.newest = m.id;
    const mine = m.sender.id === ctx.me?.id;
    const hidden = blocks.has(m.sender.id);
    item.li.hidden = hidden;
    const after = [...ui.messages.querySelectorAll<HTMLElement>("[data-testid=message]")].find((li) => compareIds(li.dataset.id!, m.id) > 0);
    ui.messages.insertBefore(item.li, after ?? null);
    if (!after) renderSeen();
    if (live && !after && (pinned || mine)) scrollToEnd();
    if (live && !mine && !hidden && !m.deleted) {
      ui.announcer.append(h("p", {}, `${m.sender.username}: ${m.text}`));
      while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild!.remove();
    }
    return true;
  }

  function update(r: Room, m: MessageView): void {
    r.items.get(m.id)?.update(m);
  }

  function tombstone(r: Room, messageId: string): void {
    const item = r.items.get(messageId);
    if (item && !item.message.deleted) item.update({ ...item.message, deleted: true, text: "", reactions: [] });
  }

  function setReactions(r: Room, messageId: string, reactions: ReactionView[]): void {
    const item = r.items.get(messageId);
    if (item) item.update({ ...item.message, reactions });
  }

  /** "Seen by" under the newest message shown: the other members whose read position reached it (its sender left out). */
  function renderSeen(): void {
    ui.messages.querySelector(":scope > .seen")?.remove();
    const r = room;
    if (!r) return;
    const lastLi = [...ui.messages.querySelectorAll<HTMLElement>("[data-testid=message]:not([hidden])")].at(-1);
    const last = lastLi && r.items.get(lastLi.dataset.id!);
    if (!last) return;
    const names = [...r.members]
      .filter(([id, member]) => id !== ctx.me?.id && id !== last.message.sender.id && !blocks.has(id) && member.read !== null && !isAfter(last.message.id, member.read))
      .map(([, member]) => member.username)
      .sort();
    if (names.length === 0) return;
    last.li.after(h("li", { className: last.li.classList.contains("mine") ? "seen mine" : "seen", dataset: { testid: "seen-by" } }, `Seen by ${names.join(", ")}`));
    if (pinned) scrollToEnd();
  }

  /** What the room shows is read, when it can be seen: the page visible and the list at its end. */
  function markSeen(): void {
    if (room?.newest && pinned && document.visibilityState === "visible") hooks.read(room.id, room.newest);
  }

  function onMessage(m: MessageView): void {
    if (!addMessage(m, true) || !room) return;
    markSeen();
    const typer = room.typers.get(m.sender.id);
    if (!typer) return;
    clearTimeout(typer.timer);
    room.typers.delete(m.sender.id);
    renderTyping();
  }

  function onTyping(p: { chat_id: string; user: UserRef }): void {
    const r = room;
    if (!r || p.chat_id !== r.id || p.user.id === ctx.me?.id || blocks.has(p.user.id)) return;
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
    if (pinned) markSeen();
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
      markSeen();
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

  /** Runs `fn` with the open room when an event is about it. */
  const inRoom = (chatId: string, fn: (r: Room) => void) => room?.id === chatId && fn(room);

  function attach(s: ChatSocket): void {
    s.on("message", onMessage);
    s.on("typing", onTyping);
    s.on("message:updated", (m) => inRoom(m.chat_id, (r) => update(r, m)));
    s.on("message:deleted", (p) => inRoom(p.chat_id, (r) => tombstone(r, p.message_id)));
    s.on("message:reactions", (p) => inRoom(p.chat_id, (r) => setReactions(r, p.message_id, p.reactions)));
    s.on("message:read", (p) =>
      inRoom(p.chat_id, (r) => {
        const member = r.members.get(p.user_id);
        if (!member) return void refreshMembers(r);
        if (!isAfter(p.message_id, member.read)) return;
        member.read = p.message_id;
        renderSeen();
      }),
    );
    s.on("presence:join", (p) =>
      inRoom(p.chat_id, (r) => {
        r.online.set(p.user.id, p.user.username);
        if (!r.members.has(p.user.id)) r.members.set(p.user.id, { username: p.user.username, read: null });
        renderPresence();
      }),
    );
    s.on("presence:leave", (p) =>
      inRoom(p.chat_id, (r) => {
        r.online.delete(p.user_id);
        renderPresence();
      }),
    );
    s.on("presence:count", (p) =>
      inRoom(p.chat_id, (r) => {
        r.count = p.count;
        renderPresence();
      }),
    );
    s.on("chat:removed", (p) =>
      inRoom(p.chat_id, () => {
        close();
        ui.notice.textContent = "You were removed from the chat.";
      }),
    );
    // Presence may have changed while the connection was down.
    s.on("status", (status) => status === "connected" && room && void refreshPresence(room));
  }

  return {
    get currentId() {
      return room?.id ?? null;
    },
    open,
    close,
    attach,
    shown: markSeen,
    blocksChanged(user, blocked) {
      const r = room;
      if (!r) return;
      if (blocked) {
        for (const item of r.items.values()) if (item.message.sender.id === user.id) item.li.hidden = true;
        r.typers.delete(user.id);
        renderTyping();
        renderSeen();
      } else if (r.members.has(user.id)) {
        // Their messages sent meanwhile never came: the chat is read again.
        close();
        void open(r.chat);
      }
    },
  };
}

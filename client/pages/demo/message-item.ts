/**
 * One message of the open chat as a list item: its text (or a tombstone), "(edited)", its reaction
 * chips, and a menu (⋯) of what the user may do with it: react, edit and delete their own, delete
 * any as the chat's owner, block or report its sender. Updated in place, so a live change keeps
 * the menu, the editor and the focus where they are.
 */
import type { MessageView, ReactionView, UserRef } from "../../../shared/contract/views";
import { dateTimeOf, describe, h, keepFocus, timeOf } from "./page";

export const QUICK_EMOJI = ["👍", "❤️", "😂", "🎉", "😮"];
const REASON_MAX = 1000; // LIMITS.reportReason

/** What the room does for an item; each rejects with what went wrong (the item says it). */
export interface MessageActions {
  readonly me: string | undefined;
  /** The user owns the chat: may delete anyone's message. */
  readonly owner: boolean;
  react(m: MessageView, emoji: string, on: boolean): Promise<void>;
  edit(m: MessageView, text: string): Promise<void>;
  remove(m: MessageView): Promise<void>;
  block(user: UserRef): Promise<void>;
  report(m: MessageView, reason: string): Promise<void>;
}

export interface MessageItem {
  readonly li: HTMLLIElement;
  readonly message: MessageView;
  /** The message as it is now (an edit, a deletion, new reactions). */
  update(m: MessageView): void;
}

/** Closes the menu open now, if any (one at a time). */
let closeOpenMenu: (() => void) | undefined;
document.addEventListener("click", (event) => {
  // The path as it was dispatched: a choice may have replaced the button clicked, inside the menu.
  if (closeOpenMenu && !event.composedPath().some((node) => node instanceof Element && node.classList.contains("tools"))) closeOpenMenu();
});

let counter = 0;

export function messageItem(initial: MessageView, actions: MessageActions): MessageItem {
  let m = initial;
  let editing = false;
  const n = ++counter;
  const mine = m.sender.id === actions.me;
  const edited = h("span", { className: "edited" });
  const body = h("div", { className: "body" });
  const reactions = h("div", { className: "reactions" });
  reactions.setAttribute("role", "group");
  reactions.setAttribute("aria-label", "Reactions");
  const error = h("p", { className: "error", role: "alert" });
  const more = h("button", { type: "button", className: "more", dataset: { focus: "more" } }, "⋯");
  more.setAttribute("aria-label", `Actions for ${mine ? "your" : `${m.sender.username}'s`} message`);
  more.setAttribute("aria-expanded", "false");
  more.setAttribute("aria-controls", `msg-menu-${n}`);
  more.title = "React, edit, delete, report…";
  const menu = h("div", { className: "menu", id: `msg-menu-${n}`, hidden: true });
  const tools = h("div", { className: "tools" }, more, menu);
  const li = h(
    "li",
    { className: mine ? "msg mine" : "msg", dataset: { testid: "message", id: m.id, senderId: m.sender.id } },
    h("div", { className: "meta" }, h("span", { className: "sender" }, m.sender.username), " ", h("time", { dateTime: m.created_at }, timeOf(m.created_at)), edited),
    body,
    reactions,
    error,
    tools,
  );

  /** What the user may do with the message now (a tombstone's sender can still be blocked). */
  const choices = () => ({
    react: !m.deleted,
    edit: mine && !m.deleted,
    remove: (mine || actions.owner) && !m.deleted,
    block: !mine,
    report: !mine && !m.deleted,
  });

  function render(): void {
    li.classList.toggle("deleted", m.deleted);
    li.dataset.deleted = String(m.deleted);
    edited.textContent = m.edited_at && !m.deleted ? " (edited)" : "";
    edited.title = m.edited_at ? `Edited ${dateTimeOf(m.edited_at)}` : "";
    if (!editing || m.deleted) {
      editing = false;
      body.replaceChildren(m.deleted ? h("p", { className: "text tombstone" }, "This message was deleted") : h("p", { className: "text" }, m.text));
    }
    const chipFocused = reactions.contains(document.activeElement);
    keepFocus(reactions, () => reactions.replaceChildren(...(m.deleted ? [] : m.reactions.map(chip))));
    reactions.hidden = reactions.childElementCount === 0;
    const c = choices();
    tools.hidden = !(c.react || c.edit || c.remove || c.block || c.report);
    if (!menu.hidden && menu.dataset.view === "main") keepFocus(menu, showMain);
    if (tools.hidden || (m.deleted && menu.dataset.view !== "main")) close(false);
    if (chipFocused && !reactions.contains(document.activeElement) && !tools.hidden) more.focus(); // its chip went (count 0)
  }

  /** A reaction chip: its emoji and count, pressed when the user's; a click takes it off or puts it on. */
  function chip(r: ReactionView): HTMLButtonElement {
    const button = h("button", { type: "button", className: "chip", dataset: { focus: `chip:${r.emoji}`, emoji: r.emoji } }, `${r.emoji} ${r.count}`);
    button.setAttribute("aria-pressed", String(r.me));
    button.title = r.me ? "Take your reaction off" : "React with this too";
    button.addEventListener("click", () => void run(() => actions.react(m, r.emoji, !r.me)));
    return button;
  }

  /** Runs a choice; a failure is shown under the message. */
  async function run(action: () => Promise<void>): Promise<boolean> {
    error.textContent = "";
    try {
      await action();
      return true;
    } catch (err) {
      error.textContent = describe(err);
      return false;
    }
  }

  function item(label: string, onClick: () => void, className = "small secondary"): HTMLButtonElement {
    const button = h("button", { type: "button", className, dataset: { focus: `menu:${label}` } }, label);
    button.addEventListener("click", onClick);
    return button;
  }

  function showMain(): void {
    menu.dataset.view = "main";
    const c = choices();
    const emoji = c.react
      ? QUICK_EMOJI.map((e) => {
          const on = m.reactions.some((r) => r.emoji === e && r.me);
          const button = item(e, () => void run(() => actions.react(m, e, !on)).then((ok) => ok && close(true)), "small secondary emoji");
          button.setAttribute("aria-label", on ? `Take off your ${e}` : `React with ${e}`);
          button.setAttribute("aria-pressed", String(on));
          return button;
        })
      : [];
    menu.replaceChildren(
      ...(emoji.length ? [h("div", { className: "quick" }, ...emoji)] : []),
      ...(c.edit ? [item("Edit", startEdit)] : []),
      ...(c.remove ? [item("Delete", confirmDelete, "small danger")] : []),
      ...(c.report ? [item("Report…", startReport)] : []),
      ...(c.block ? [item(`Block ${m.sender.username}`, () => void run(() => actions.block(m.sender)).then((ok) => ok && close(false)), "small danger")] : []),
    );
  }

  function open(): void {
    closeOpenMenu?.();
    showMain();
    menu.hidden = false;
    more.setAttribute("aria-expanded", "true");
    closeOpenMenu = () => close(false);
    menu.querySelector("button")?.focus();
  }

  function close(focusToggle: boolean): void {
    if (menu.hidden) return;
    menu.hidden = true;
    delete menu.dataset.view;
    menu.replaceChildren();
    more.setAttribute("aria-expanded", "false");
    closeOpenMenu = undefined; // this one was it: one menu is open at a time
    if (focusToggle && !tools.hidden) more.focus();
  }

  function confirmDelete(): void {
    menu.dataset.view = "delete";
    const yes = item("Yes, delete", async () => {
      yes.disabled = true;
      if (!(await run(() => actions.remove(m)))) return void (yes.disabled = false);
      close(false);
      // The menu is gone with the message's text: the focus goes to what is left of it, or to the list.
      if (!tools.hidden) more.focus();
      else li.closest<HTMLElement>("[tabindex]")?.focus();
    }, "small danger");
    menu.replaceChildren(h("p", {}, mine ? "Delete your message for everyone?" : `Delete ${m.sender.username}'s message for everyone?`), yes, item("Cancel", () => close(true)));
    yes.focus();
  }

  function startReport(): void {
    menu.dataset.view = "report";
    const id = `msg-report-${n}`;
    const reason = h("input", { id, name: "reason", required: true, maxLength: REASON_MAX, autocomplete: "off" });
    const form = h(
      "form",
      { className: "stack" },
      h("label", { htmlFor: id }, "Why report this message?"),
      reason,
      h("span", { className: "actions" }, h("button", { type: "submit", className: "small" }, "Send report"), item("Cancel", () => close(true))),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = reason.value.trim();
      if (!text) return reason.focus();
      if (await run(() => actions.report(m, text))) close(true);
    });
    menu.replaceChildren(form);
    reason.focus();
  }

  function startEdit(): void {
    close(false);
    editing = true;
    const id = `msg-edit-${n}`;
    const input = h("input", { id, name: "text", value: m.text, required: true, maxLength: 4000, autocomplete: "off" });
    const form = h(
      "form",
      { className: "edit" },
      h("label", { htmlFor: id, className: "visually-hidden" }, "Edit message"),
      input,
      h("button", { type: "submit", className: "small" }, "Save"),
      item("Cancel", () => stopEdit()),
    );
    const stopEdit = () => {
      editing = false;
      render();
      more.focus();
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text || text === m.text) return stopEdit();
      if (await run(() => actions.edit(m, text))) stopEdit();
    });
    input.addEventListener("keydown", (event) => event.key === "Escape" && stopEdit());
    body.replaceChildren(form);
    input.focus();
    input.select();
  }

  more.addEventListener("click", () => (menu.hidden ? open() : close(true)));
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close(true);
  });
  render();

  return {
    li,
    get message() {
      return m;
    },
    update(next) {
      m = next;
      render();
    },
  };
}

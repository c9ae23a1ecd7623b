/** The page's elements, small DOM helpers and what the demo's parts share. */
import { ApiError, type ChatSocket, type Client } from "../../index";
import type { UserView } from "../../../shared/contract/views";

/** What the room and the lists need from the signed-in page (demo.ts owns it). */
export interface DemoContext {
  readonly client: Client;
  /** The signed-in user; null once signed out. */
  readonly me: UserView | null;
  readonly socket: ChatSocket | null;
  /** Shows a failure in `where`, or ends the session when the failure says it is over. */
  report(err: unknown, where: HTMLElement): void;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

type Props<K extends keyof HTMLElementTagNameMap> = Partial<Omit<HTMLElementTagNameMap[K], "dataset">> & { dataset?: Record<string, string> };

/** `h("li", { className: "msg" }, child, "text")`: an element with properties and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props<K> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const { dataset, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
}

/** The trimmed value of a form's field. */
export function field(form: HTMLFormElement, name: string): string {
  return String(new FormData(form).get(name) ?? "").trim();
}

/**
 * Runs `render` (which replaces what `container` holds) and gives the focus back to the new element
 * with the same `data-focus` key: a live update must not take the keyboard's place away.
 */
export function keepFocus(container: HTMLElement, render: () => void): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && container.contains(active) ? active.dataset.focus : undefined;
  render();
  if (key && !container.contains(document.activeElement)) container.querySelector<HTMLElement>(`[data-focus="${CSS.escape(key)}"]`)?.focus();
}

/** The page's elements, looked up by name: each one's id is its name in kebab-case (`roomTitle` is #room-title). */
function elements<T extends Record<string, abstract new () => HTMLElement>>(kinds: T): { [K in keyof T]: InstanceType<T[K]> } {
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return Object.fromEntries(Object.keys(kinds).map((name) => [name, byId(kebab(name))])) as { [K in keyof T]: InstanceType<T[K]> };
}

const [El, Button, Form, Input] = [HTMLElement, HTMLButtonElement, HTMLFormElement, HTMLInputElement];

export const ui = elements({
  // The header and the sign-in screen.
  connection: El, whoami: El, whoamiName: El, logout: Button, sessionEnded: El, auth: El, app: El,
  loginForm: Form, loginUsername: Input, loginError: El, registerForm: Form, registerError: El, registerOk: El,
  passwordFeedback: El, passwordScore: El, passwordWarning: El, passwordSuggestions: El,
  // The sidebar's lists.
  chats: El, chatsEmpty: El, createChatForm: Form, createChatError: El,
  invites: El, invitesEmpty: El, sessions: El, sessionsRevokeAll: Button, blocks: El, blocksEmpty: El, notice: El,
  // The open chat.
  roomTitle: El, roomBody: El, presence: El, loadOlder: Button, messages: HTMLOListElement, announcer: El, typing: El,
  sendForm: Form, messageText: Input, inviteForm: Form, roomNotice: El,
  reportsToggle: Button, reports: El, reportsList: El, reportsEmpty: El,
});

/** What a person should read about a failure: the problem's detail, its field errors, when to retry. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    const fields = (err.problem.errors ?? []).map((e) => `${e.field}: ${e.message}`);
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "";
    return [err.problem.detail || err.message, ...fields].join(" · ") + wait;
  }
  return err instanceof Error ? err.message : String(err);
}

export const timeOf = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
export const dateTimeOf = (iso: string) => new Date(iso).toLocaleString();

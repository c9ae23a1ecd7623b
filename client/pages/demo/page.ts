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

export const ui = {
  connection: byId("connection"),
  whoami: byId("whoami"),
  whoamiName: byId("whoami-name"),
  logout: byId<HTMLButtonElement>("logout"),
  ended: byId("session-ended"),
  auth: byId("auth"),
  app: byId("app"),
  loginForm: byId<HTMLFormElement>("login-form"),
  loginUsername: byId<HTMLInputElement>("login-username"),
  loginError: byId("login-error"),
  registerForm: byId<HTMLFormElement>("register-form"),
  registerError: byId("register-error"),
  registerOk: byId("register-ok"),
  feedback: byId("password-feedback"),
  feedbackScore: byId("password-score"),
  feedbackWarning: byId("password-warning"),
  feedbackSuggestions: byId("password-suggestions"),
  chats: byId("chats"),
  chatsRefresh: byId<HTMLButtonElement>("chats-refresh"),
  chatsEmpty: byId("chats-empty"),
  createChatForm: byId<HTMLFormElement>("create-chat-form"),
  createChatError: byId("create-chat-error"),
  invites: byId("invites"),
  invitesRefresh: byId<HTMLButtonElement>("invites-refresh"),
  invitesEmpty: byId("invites-empty"),
  sessions: byId("sessions"),
  sessionsRefresh: byId<HTMLButtonElement>("sessions-refresh"),
  notice: byId("notice"),
  roomTitle: byId("room-title"),
  roomBody: byId("room-body"),
  presence: byId("presence"),
  loadOlder: byId<HTMLButtonElement>("load-older"),
  messages: byId<HTMLOListElement>("messages"),
  announcer: byId("announcer"),
  typing: byId("typing"),
  sendForm: byId<HTMLFormElement>("send-form"),
  messageText: byId<HTMLInputElement>("message-text"),
  inviteForm: byId<HTMLFormElement>("invite-form"),
  roomNotice: byId("room-notice"),
};

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

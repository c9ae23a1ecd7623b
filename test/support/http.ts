import { randomBytes } from "node:crypto";
import type { Answer } from "../../shared/contract/views";

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** A small JSON client over fetch, as an app would use the api. */
export function httpClient(base: string, token?: string) {
  async function request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization ??= `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === "string" ? body : JSON.stringify(body);
      h["content-type"] ??= "application/json";
    }
    const res = await fetch(base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }
  return {
    request,
    get: <T = any>(path: string, headers?: Record<string, string>) => request<T>("GET", path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => request<T>("POST", path, body, headers),
    delete: <T = any>(path: string, headers?: Record<string, string>) => request<T>("DELETE", path, undefined, headers),
    put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => request<T>("PUT", path, body, headers),
    as: (t: string) => httpClient(base, t),
  };
}

export type HttpClient = ReturnType<typeof httpClient>;

let counter = 0;
/** A unique username and a password zxcvbn scores 4. */
export function newCredentials(prefix = "user") {
  counter += 1;
  const username = `${prefix}_${process.pid}_${counter}_${randomBytes(2).toString("hex")}`.slice(0, 32);
  return { username, email: `${username}@example.test`, password: `Vq7!${randomBytes(12).toString("base64url")}` };
}

export interface LoggedIn {
  /** A registered account: it has an email. */
  user: Answer<"user">["user"] & { email: string };
  username: string;
  password: string;
  token: string;
  refreshToken: string;
  sessionId: string;
  http: HttpClient;
}

export async function registerAndLogin(api: HttpClient, prefix?: string): Promise<LoggedIn> {
  const creds = newCredentials(prefix);
  const reg = await api.post<Answer<"user">>("/register", creds);
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${reg.text}`);
  const login = await api.post<Answer<"login">>("/login", { username: creds.username, password: creds.password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return {
    user: { ...reg.body.user, email: creds.email },
    username: creds.username,
    password: creds.password,
    token: login.body.token,
    refreshToken: login.body.refresh_token,
    sessionId: login.body.session_id,
    http: api.as(login.body.token),
  };
}

/** A chat owned by `owner` that every one of `members` has joined (invite, then accept). */
export async function chatWith(owner: LoggedIn, members: LoggedIn[], name = "room"): Promise<string> {
  const created = await owner.http.post<Answer<"chat">>("/chats", { name, members: members.map((m) => m.username) });
  if (created.status !== 201) throw new Error(`create chat failed: ${created.status} ${created.text}`);
  const chatId = created.body.chat.id;
  for (const member of members) {
    const invites = await member.http.get<Answer<"invitePage">>("/invites");
    const invite = invites.body.invites.find((i) => i.chat.id === chatId);
    if (!invite) throw new Error("invite not found");
    const accepted = await member.http.post(`/invites/${invite.id}/accept`);
    if (accepted.status !== 200) throw new Error(`accept failed: ${accepted.status} ${accepted.text}`);
  }
  return chatId;
}

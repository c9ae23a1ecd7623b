import type { ErrorCode, ProblemBody } from "../shared/contract/errors";
import { ApiError } from "./errors";
import type { TokenKeeper } from "./tokens";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** The code of an answer that carries no problem body (a proxy's 502 page, …). */
function codeOf(status: number): ErrorCode {
  if (status === 429) return "rate_limited";
  if (status === 502 || status === 503 || status === 504) return "unavailable";
  if (status === 413) return "payload_too_large";
  if (status === 415) return "unsupported_media_type";
  if (status === 404) return "not_found";
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  return status >= 500 ? "internal" : "invalid_body";
}

/** Retry-After is seconds or an HTTP date. */
function retryAfterOf(res: Response): number | undefined {
  const value = res.headers.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The ApiError an answer that is not 2xx stands for: its problem body, or one described from the status. */
export async function toApiError(res: Response): Promise<ApiError> {
  let problem: ProblemBody | undefined;
  try {
    const body: unknown = await res.json();
    if (body && typeof body === "object" && typeof (body as ProblemBody).code === "string") problem = body as ProblemBody;
  } catch {
    // Not JSON: described from the status below.
  }
  problem ??= { type: "about:blank", title: res.statusText || `HTTP ${res.status}`, status: res.status, code: codeOf(res.status), detail: res.statusText || `HTTP ${res.status}` };
  return new ApiError(problem, retryAfterOf(res));
}

export interface Http {
  /** The device value the api last handed back (X-Device), sent with every call. */
  readonly device: string | null;
  /** A call without a token (register, login, refresh). */
  call<T>(method: Method, path: string, body?: unknown): Promise<T>;
  /**
   * A protected call with `Authorization: Bearer`: the token is refreshed first when it is about
   * to expire, and once more (then the call retried) when the answer is 401 token_expired.
   */
  authed<T>(method: Method, path: string, body?: unknown): Promise<T>;
}

/** A request that gets no answer in this long fails (a half-open connection after a network change would hang forever). */
const REQUEST_TIMEOUT_MS = 15_000;

export function createHttp(base: string, fetchFn: typeof fetch, keeper: TokenKeeper, initialDevice?: string): Http {
  let device = initialDevice ?? null;
  const send = async (method: Method, path: string, body: unknown, token: string | null) => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    if (device) headers["x-device"] = device;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      const res = await fetchFn(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: abort.signal });
      device = res.headers.get("x-device") ?? device;
      return res;
    } finally {
      clearTimeout(timer);
    }
  };

  const read = async <T>(res: Response): Promise<T> => {
    if (!res.ok) throw await toApiError(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  };

  /** The session `sessionId` is over; unless the client has moved on to another login, it ends (a refresh meanwhile does not save it). */
  const revoked = (err: ApiError, sessionId: string | undefined) => {
    if (sessionId !== undefined && keeper.tokens?.session_id === sessionId) keeper.clear("revoked");
    return err;
  };

  return {
    get device() {
      return device;
    },
    call: async (method, path, body) => read(await send(method, path, body, null)),

    async authed<T>(method: Method, path: string, body?: unknown): Promise<T> {
      const token = await keeper.fresh();
      const sessionId = keeper.tokens?.session_id;
      if (!token) throw new ApiError({ type: "about:blank", title: "Unauthorized", status: 401, code: "unauthorized", detail: "Not logged in" });
      const res = await send(method, path, body, token);
      if (res.status !== 401) return read<T>(res);
      const err = await toApiError(res);
      if (err.code === "session_revoked") throw revoked(err, sessionId);
      // Expired early (clocks disagree), or signed with a key since retired: one refresh, one retry.
      if (err.code !== "token_expired" && err.code !== "unauthorized") throw err;
      const retryToken = await keeper.refreshUnless(token);
      const again = await send(method, path, body, retryToken);
      if (again.status !== 401) return read<T>(again);
      const second = await toApiError(again);
      throw second.code === "session_revoked" ? revoked(second, sessionId) : second;
    },
  };
}

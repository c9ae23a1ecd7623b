import type { LoginResult } from "../shared/contract/views";
import { Backoff } from "./backoff";
import { ApiError } from "./errors";
import type { EndReason, StoredTokens, TokenStore } from "./types";

export interface TokenKeeperOptions {
  /** Default min(30 s, a third of the token's lifetime). */
  refreshMarginMs?: number;
  /** POST /token/refresh. */
  refresh(refreshToken: string): Promise<LoginResult>;
  /** Shared with other clients: refreshes and saves take turns under its lock (ClientOptions.tokenStore). */
  store?: TokenStore;
  onTokens(tokens: StoredTokens | null): void;
  onEnded(reason: EndReason): void;
}

/** setTimeout's delay is a 32-bit int: a longer wait fires at once. Wake up at least daily and look again. */
const MAX_TIMER_MS = 24 * 3600 * 1000;
/** The refresh timer never fires sooner than this: whatever the clocks or options say, no refresh loop. */
const MIN_TIMER_MS = 1_000;

const notLoggedIn = () => new ApiError({ type: "about:blank", title: "Unauthorized", status: 401, code: "unauthorized", detail: "Not logged in" });
const ignore = () => undefined;

/** The answer a refresh would have given, for tokens another client got. */
function resultOf({ token, refresh_token, expires_at, session_id, user }: StoredTokens, expiresAt: number): LoginResult {
  return { token, type: "Bearer", expires_in: Math.max(0, Math.round((expiresAt - Date.now()) / 1000)), expires_at, refresh_token, session_id, user };
}

/**
 * The login's tokens and their refresh. A refresh token is spent on use and presenting it twice
 * revokes the session, so every caller shares one refresh in flight, and with a store the clients
 * sharing it refresh in turn. While sockets are open (they `hold()` the keeper) a timer refreshes
 * before expiry; HTTP calls refresh lazily via `fresh()`.
 */
export class TokenKeeper {
  private current: StoredTokens | null = null;
  /** When the access token expires, on this machine's clock. */
  private expiresAt = 0;
  private lifetimeMs = 0;
  private inflight: Promise<LoginResult> | null = null;
  /** Bumped by every login, restore and clear: an older refresh must not resurrect a session. */
  private generation = 0;
  private holders = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly retry = new Backoff(1_000, 15_000);
  private readonly watchers = new Set<() => void>();
  /** A Retry-After of the last failed refresh: no timer fires before it. */
  private notBefore = 0;

  constructor(private readonly options: TokenKeeperOptions) {
    options.store?.subscribe?.(() => this.follow());
  }

  get tokens(): StoredTokens | null {
    return this.current;
  }

  /** A login answer: stored, saved, announced, and the refresh timer set. */
  set(result: LoginResult): StoredTokens {
    const tokens = this.apply(result);
    this.save(tokens);
    return tokens;
  }

  /** Tokens of a login or refresh, in memory: the refresh timer set, then announced. */
  private apply(result: LoginResult): StoredTokens {
    const { token, refresh_token, expires_at, session_id, user } = result;
    this.current = { token, refresh_token, expires_at, session_id, user };
    // expires_in does not depend on the two clocks agreeing; expires_at covers the seconds the server
    // rounded off, but only within 2 s: a client clock far ahead of the server's would otherwise see
    // every new token as expired already and refresh in a loop.
    const local = Date.now() + result.expires_in * 1000;
    this.expiresAt = Math.min(local, Math.max(Date.parse(expires_at), local - 2_000));
    this.lifetimeMs = result.expires_in * 1000;
    this.generation += 1;
    this.schedule();
    const tokens = this.current;
    this.options.onTokens(tokens);
    this.notify();
    return tokens;
  }

  restore(tokens: StoredTokens): void {
    this.current = { ...tokens };
    this.expiresAt = Date.parse(tokens.expires_at);
    // The original lifetime is not stored: what is left of it is the best guess for the margin.
    this.lifetimeMs = Math.max(0, this.expiresAt - Date.now());
    this.generation += 1;
    this.schedule();
    this.notify();
  }

  /** Forgets the tokens; with a reason, the session is over and `onEnded` runs (once). `fromStore`: nothing to save. */
  clear(reason?: EndReason, fromStore = false): void {
    const had = this.current !== null;
    this.current = null;
    this.generation += 1;
    this.schedule();
    if (had && !fromStore) this.save(null);
    if (had) this.options.onTokens(null);
    if (had && reason) this.options.onEnded(reason);
  }

  /** Runs `fn` after every new token (open sockets hand it to the server); returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** The access token, refreshed first when it expires within the margin; null when not logged in. */
  async fresh(): Promise<string | null> {
    if (!this.current) return null;
    if (Date.now() < this.expiresAt - this.margin()) return this.current.token;
    try {
      return (await this.refresh()).token;
    } catch (err) {
      // The api unreachable for now: a token with time left still serves (a 401 ended the session).
      if (this.current && !(err instanceof ApiError && err.status === 401) && Date.now() < this.expiresAt) return this.current.token;
      throw err;
    }
  }

  /** POST /token/refresh, single-flight. A 401 ends the session (session_revoked: "revoked", else "expired"). */
  refresh(): Promise<LoginResult> {
    if (this.inflight) return this.inflight;
    const asked = this.current;
    if (!asked) return Promise.reject(notLoggedIn());
    const store = this.options.store;
    const flight: Promise<LoginResult> = (store ? store.lock(() => this.exchange(asked, store)) : this.exchange(asked)).finally(() => {
      if (this.inflight === flight) this.inflight = null;
    });
    this.inflight = flight;
    return flight;
  }

  /** Spends the refresh token of `asked`; with a store, in its lock, unless another client spent it first. */
  private async exchange(asked: StoredTokens, store?: TokenStore): Promise<LoginResult> {
    // A store that cannot be read leaves the decision to the server, as without a store.
    if (store) this.take(await Promise.resolve(store.load()).catch(() => null), false);
    const tokens = this.current;
    // A logout or another login while waiting for the lock: the refresh was for a session no longer held.
    if (!tokens || tokens.session_id !== asked.session_id) throw notLoggedIn();
    // Another client refreshed while this one waited: its new token serves, unless it is due as well.
    if (tokens.refresh_token !== asked.refresh_token && Date.now() < this.expiresAt - this.margin()) return resultOf(tokens, this.expiresAt);
    const generation = this.generation;
    let result: LoginResult;
    try {
      result = await this.options.refresh(tokens.refresh_token);
    } catch (err) {
      if (generation === this.generation && err instanceof ApiError && err.status === 401) this.clear(err.code === "session_revoked" ? "revoked" : "expired");
      // 429 / 503: the next attempt waits at least as long as the server asked.
      if (err instanceof ApiError && err.retryAfter !== undefined) this.notBefore = Date.now() + err.retryAfter * 1000;
      throw err;
    }
    // A login, logout or restore meanwhile: the answer belongs to tokens no longer held. A restore
    // of the same tokens (re-read from storage) still takes it: its refresh token is spent now.
    if (generation !== this.generation && this.current?.refresh_token !== tokens.refresh_token) throw notLoggedIn();
    this.retry.reset();
    const fresh = this.apply(result);
    // Saved before the lock is released: the next client to refresh reads these, not the spent ones.
    // A store that fails to save cannot be helped here; these tokens are the live ones, so keep them.
    if (store) await Promise.resolve(store.save(fresh)).catch(ignore);
    return result;
  }

  /** A token newer than `token`: refreshed, unless someone already did (a refusal of an older token needs no new refresh). */
  async refreshUnless(token: string | undefined): Promise<string> {
    if (this.current && token !== undefined && this.current.token !== token) return this.current.token;
    return (await this.refresh()).token;
  }

  /**
   * The server warns (`session:expiring`) ahead of expiry; timers of a background tab may run late,
   * so refresh now when the token is within the margin or past half its life. A fresh token never
   * is, so the warning a short-lived token gets at every connect does not start a refresh loop.
   */
  refreshIfDue(): void {
    if (!this.current) return;
    const left = this.expiresAt - Date.now();
    if (left <= Math.max(this.margin(), this.lifetimeMs / 2)) this.refresh().catch(() => this.retryLater());
  }

  /** Keeps the refresh timer running while the returned release is not called (open sockets hold it). */
  hold(): () => void {
    this.holders += 1;
    this.schedule();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders -= 1;
      this.schedule();
    };
  }

  /** Saves to the store in its lock, in turn with the refreshes: a save never lands between another client's load and save. */
  private save(tokens: StoredTokens | null): void {
    const store = this.options.store;
    if (store) store.lock(async () => store.save(tokens)).catch(ignore);
  }

  /** Another client saved: follow the store, in its lock so that no refresh is half done. */
  private follow(): void {
    const store = this.options.store;
    if (!store) return;
    const generation = this.generation;
    store
      .lock(async () => {
        const shared = await store.load();
        // A login, logout or refresh here since the signal: this client moved on, and its own save
        // (queued behind in the lock) is what the others follow.
        if (generation === this.generation) this.take(shared, true);
      })
      .catch(ignore);
  }

  /**
   * What the store holds, against what this client holds: newer tokens of the same session are
   * taken; with `all`, no tokens end this session (logged out elsewhere) and another session
   * replaces it. Refreshes look only for the former, and leave anything else to the server.
   */
  private take(shared: StoredTokens | null, all: boolean): void {
    const mine = this.current;
    if (shared && mine && shared.session_id === mine.session_id) {
      if (shared.refresh_token !== mine.refresh_token) this.adopt(shared);
      return;
    }
    if (!all || shared?.refresh_token === mine?.refresh_token) return;
    if (mine) this.clear("logged_out", true); // from the store: nothing to save back
    if (shared) this.adopt(shared);
  }

  private adopt(tokens: StoredTokens): void {
    this.restore(tokens);
    this.options.onTokens(this.current);
  }

  private notify(): void {
    for (const fn of [...this.watchers]) fn();
  }

  /** How long before expiry to refresh: at most half the token's life, so a large option cannot make it refresh in a loop. */
  private margin(): number {
    return Math.min(this.options.refreshMarginMs ?? Math.min(30_000, this.lifetimeMs / 3), this.lifetimeMs / 2);
  }

  private schedule(delay?: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.current || this.holders === 0) return;
    const due = Math.max(delay ?? this.expiresAt - this.margin() - Date.now(), this.notBefore - Date.now(), MIN_TIMER_MS);
    this.timer = setTimeout(() => this.tick(), Math.min(due, MAX_TIMER_MS));
  }

  private tick(): void {
    this.timer = undefined;
    if (!this.current || this.holders === 0) return;
    if (Date.now() < this.expiresAt - this.margin()) return this.schedule();
    // Success sets the next timer (set); a 401 ends the session (clear); anything else is retried.
    this.refresh().catch(() => this.retryLater());
  }

  private retryLater(): void {
    if (this.current && !this.timer) this.schedule(this.retry.next());
  }
}

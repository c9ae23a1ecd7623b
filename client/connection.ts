import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import type { Ack, ClientToServerEvents, HandshakeErrorData, ResultOf, ServerToClientEvents } from "../shared/contract/events";
// The one value the client takes from the contract, from its module without zod (the browser bundle stays small).
import { SOCKET_PATH } from "../shared/contract/handshake";
import { Backoff } from "./backoff";
import { CONNECT_TIMEOUT_MS } from "./connect-timeout";
import { SocketError } from "./errors";
import type { TokenKeeper } from "./tokens";
import type { EndReason } from "./types";

const ACK_TIMEOUT_MS = 10_000;
/** A connection up this long counts as stable: the reconnect back-off starts over. */
const STABLE_MS = 10_000;

export type RawSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type Payload<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]>[0];
/** socket.io-client types `timeout().emit` per event name; with a generic name it cannot pick the overload. */
type AnyEmit = (event: string, payload: unknown, ack: (err: Error | null, answer: unknown) => void) => unknown;

export interface ConnectionHooks {
  /** Connection number `n` is up (numbers grow: work begun on an older one stops). */
  connected(n: number): void;
  /** Down; `coming back` unless the socket was closed. */
  disconnected(comingBack: boolean): void;
  refreshed(expiresAt: string): void;
  error(err: Error): void;
  /** The session the handshake used is over. */
  sessionEnded(sessionId: string | undefined, reason: EndReason): void;
  /** A refusal no retry can get past (a wrong `query`, not logged in). */
  failed(err: SocketError): void;
}

/**
 * The socket.io-client socket, kept authenticated: the `auth` callback reads the newest token at
 * every attempt (refreshing first when it is about to expire), a refreshed token goes in band with
 * `auth:refresh`, and refusals that socket.io does not retry by itself are retried here, with a
 * jittered back-off, after a refresh when the token was the problem.
 */
export class Connection {
  readonly raw: RawSocket;
  private open = true;
  private count = 0;
  private readonly retry = new Backoff();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resets the back-off once a connection has stayed up a while (one dropped at once keeps backing off). */
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  /** The token of the last handshake attempt, and the one the server holds for this connection. */
  private offered: string | undefined;
  private accepted: string | undefined;
  private sessionId: string | undefined;
  private readonly release: (() => void)[];

  constructor(
    url: string,
    options: Partial<ManagerOptions & SocketOptions>,
    private readonly keeper: TokenKeeper,
    private readonly hooks: ConnectionHooks,
  ) {
    this.raw = io(url, { forceNew: true, timeout: CONNECT_TIMEOUT_MS, ...options, path: SOCKET_PATH, autoConnect: false, auth: (cb) => void this.authorize(cb) });
    this.raw.on("connect", () => this.onConnect());
    this.raw.on("connect_error", (err) => this.onRefused(err as Error & { data?: HandshakeErrorData }));
    this.raw.on("disconnect", (reason) => this.onDisconnect(reason));
    this.raw.on("session:expiring", ({ expires_at }) => this.onExpiring(expires_at));
    this.raw.on("session:ended", ({ reason }) => {
      // "expired": only this socket's token lapsed (a sleeping laptop): the reconnect refreshes
      // first, and if the session itself is over that refresh fails and ends it.
      if (reason === "revoked") this.hooks.sessionEnded(this.sessionId, "revoked");
    });
    this.release = [keeper.hold(), keeper.onChange(() => void this.pushToken())];
    this.raw.connect();
  }

  /** The number of the connection that is up; undefined while down. */
  get current(): number | undefined {
    return this.raw.connected ? this.count : undefined;
  }

  stop(): void {
    if (!this.open) return;
    this.open = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    for (const release of this.release) release();
    this.raw.disconnect();
  }

  /** An event and its answer; rejects with SocketError "timeout" or "disconnected". */
  ask<E extends keyof ClientToServerEvents>(event: E, payload: Payload<E>, timeoutMs = ACK_TIMEOUT_MS): Promise<Ack<ResultOf<E>>> {
    return new Promise((resolve, reject) => {
      // Never buffered for a later connection: the caller decides what is worth sending again.
      if (!this.raw.connected) return reject(new SocketError("disconnected", "Not connected"));
      const timed = this.raw.timeout(timeoutMs) as unknown as { emit: AnyEmit };
      timed.emit(event, payload, (err, answer) => {
        if (!err) return resolve(answer as Ack<ResultOf<E>>);
        reject(new SocketError(/timed out/.test(err.message) ? "timeout" : "disconnected", `${event}: ${err.message}`));
      });
    });
  }

  /** socket.io-client calls this at every connection attempt, its own reconnects included. */
  private async authorize(cb: (data: object) => void): Promise<void> {
    let token: string | null;
    try {
      token = await this.keeper.fresh();
    } catch {
      // A refresh that failed for now: offer what we have; a refusal brings us back here later.
      token = this.keeper.tokens?.token ?? null;
    }
    if (!this.open) return;
    this.offered = token ?? undefined;
    this.sessionId = this.keeper.tokens?.session_id;
    cb(token ? { token } : {});
  }

  private onConnect(): void {
    this.count += 1;
    this.accepted = this.offered;
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => this.retry.reset(), STABLE_MS);
    this.hooks.connected(this.count);
    // A refresh that finished while the handshake was under way.
    void this.pushToken();
  }

  private onDisconnect(reason: Socket.DisconnectReason): void {
    clearTimeout(this.stableTimer);
    const comingBack = this.open && reason !== "io client disconnect";
    this.hooks.disconnected(comingBack);
    // The server closed the connection (session:ended "expired", a slow reader, …): socket.io
    // does not come back by itself then; after a transport failure it does.
    if (comingBack && !this.raw.active) this.reconnectLater();
  }

  private onRefused(err: Error & { data?: HandshakeErrorData }): void {
    if (!this.open) return;
    const code = err.data?.code;
    if (!code) {
      // A transport failure: socket.io retries by itself while `active`.
      if (!this.raw.active) this.reconnectLater();
      return;
    }
    this.hooks.disconnected(true);
    switch (code) {
      case "session_revoked":
        return this.hooks.sessionEnded(this.sessionId, "revoked");
      case "token_expired":
      case "invalid_token":
      case "missing_token":
        if (!this.keeper.tokens) return this.hooks.failed(new SocketError(code, "Not logged in"));
        // A refresh that ends the session ends this socket too (through the client); other failures are retried.
        this.keeper.refreshUnless(this.offered).then(
          () => this.reconnectLater(),
          () => this.reconnectLater(),
        );
        return;
      case "rate_limited":
      case "unavailable":
        return this.reconnectLater();
      default:
        // chat_forbidden, invalid_chat_id: a `query` the app set is wrong; trying again cannot help.
        return this.hooks.failed(new SocketError(code, err.message));
    }
  }

  /** Hands the newest access token to the server, unless it already holds it. */
  private async pushToken(): Promise<void> {
    const token = this.keeper.tokens?.token;
    if (!token || !this.raw.connected || token === this.accepted) return;
    let answer: Ack<ResultOf<"auth:refresh">>;
    try {
      answer = await this.ask("auth:refresh", { token });
    } catch {
      return; // dropped: the next handshake carries the newest token anyway
    }
    if (answer.ok) {
      this.accepted = token;
      this.hooks.refreshed(answer.expires_at);
    } else if (answer.error.code === "session_revoked") {
      this.hooks.sessionEnded(this.sessionId, "revoked");
    } else {
      this.hooks.error(new SocketError(answer.error.code, answer.error.message));
    }
  }

  private onExpiring(expiresAt: string): void {
    const tokens = this.keeper.tokens;
    if (!tokens) return;
    // The server holds an older token than ours (an auth:refresh got lost): hand ours over.
    if (tokens.token !== this.accepted && Date.parse(tokens.expires_at) > Date.parse(expiresAt)) return void this.pushToken();
    this.keeper.refreshIfDue();
  }

  private reconnectLater(): void {
    if (!this.open || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.open && !this.raw.connected) this.raw.connect();
    }, this.retry.next());
  }
}

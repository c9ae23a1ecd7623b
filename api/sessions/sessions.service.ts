import type { Counter } from "prom-client";
import type { LoginResult, SessionView } from "../../shared/contract/views";
import { type ControlBus, publishRevocation } from "../../shared/control/bus";
import type { Db } from "../../shared/db/db";
import type { SessionRow, UserRow } from "../../shared/db/schema";
import { AppError } from "../../shared/contract/errors";
import { banHolds, bannedError, factsOf, sessionError, sessionVerdict } from "../../shared/db/sessions";
import { hashRefreshToken, newRefreshToken, type TokenSigner } from "../../shared/auth/tokens";
import { findByLogin, findById } from "../accounts/accounts.repository";
import { userView } from "../accounts/accounts.views";
import type { PasswordHasher } from "../accounts/password";
import type { AuthContext } from "../http/auth";
import type { KnownDevice } from "./devices";
import type { Allowance, LoginLimiter } from "./login-limiter";
import * as repo from "./sessions.repository";
import { sessionView } from "./sessions.views";

export interface SessionDeps {
  db: Db;
  tokens: TokenSigner;
  hasher: PasswordHasher;
  limiter: LoginLimiter;
  bus: ControlBus;
  sessionTtl: number;
  maxSessionsPerUser: number;
  loginOutcomes: Counter<"outcome">;
}

export interface ClientInfo {
  userAgent: string | null;
  ip: string | null;
}

const invalidCredentials = () => new AppError("invalid_credentials", 401, "The username or password is wrong");

/** The login answer for a session whose refresh token (stored only as its hash) was just created. */
function answer(deps: SessionDeps, session: SessionRow, user: UserRow, refreshToken: string): LoginResult {
  const access = deps.tokens.sign(user.id, session.id, session.expires_at);
  return {
    token: access.token,
    type: "Bearer",
    expires_in: access.expiresIn,
    expires_at: access.expiresAt.toISOString(),
    refresh_token: refreshToken,
    session_id: session.id,
    user: userView(user),
  };
}

/**
 * Checks a password against the login limits (LoginLimiter): the points of one check are taken
 * first (429 when the address or the typed name is over its limit), then the password is
 * verified in the bounded argon2 queue (503 when it is full: nothing counts). While the
 * allowance is locked the password is not checked at all: a made-up hash costs the same time and
 * the answer is the same as for a wrong password. A right password gives the failure points back.
 */
export async function guardedVerify(
  deps: Pick<SessionDeps, "limiter" | "hasher" | "loginOutcomes">,
  user: { id: string; password_hash: string | null } | undefined,
  typedName: string,
  password: string,
  ip: string,
  allowance: Allowance,
): Promise<boolean> {
  let ticket;
  try {
    ticket = await deps.limiter.begin(allowance, ip, typedName);
  } catch (err) {
    deps.loginOutcomes.inc({ outcome: "rate_limited" });
    throw err;
  }
  let ok: boolean;
  try {
    // An unknown user or a locked allowance costs one argon2 verification too, and gets the same answer.
    ok = user?.password_hash && !ticket.locked ? await deps.hasher.verify(user.password_hash, password) : await deps.hasher.verifyUnknown(password);
  } catch (err) {
    await deps.limiter.notChecked(ticket);
    deps.loginOutcomes.inc({ outcome: "unavailable" });
    throw err;
  }
  if (!ok) {
    deps.loginOutcomes.inc({ outcome: ticket.locked ? "locked" : "invalid_credentials" });
    return false;
  }
  await deps.limiter.succeeded(ticket);
  return true;
}

/** Who a login's failures count against: the device when it logged in to this very account before. */
function loginAllowance(user: UserRow | undefined, typed: string, device: KnownDevice | undefined): Allowance {
  if (!user) return { kind: "unknown", name: typed };
  if (device && device.userId === user.id) return { kind: "device", userId: user.id, deviceId: device.deviceId };
  return { kind: "account", userId: user.id };
}

/**
 * POST /login. `device`: the signed device value the client brought back, if any. Answers the
 * login and the device to hand back (the same device, or a new one for this account).
 */
export async function login(
  deps: SessionDeps,
  identifier: string,
  password: string,
  client: ClientInfo & { device?: KnownDevice | undefined },
): Promise<{ result: LoginResult; device: { userId: string; deviceId?: string } }> {
  const user = await findByLogin(deps.db, identifier);
  const allowance = loginAllowance(user, identifier, client.device);
  if (!(await guardedVerify(deps, user, identifier, password, client.ip ?? "unknown", allowance)) || !user) throw invalidCredentials();
  // Told only to whoever knows the password: a ban is not revealed to guessers.
  if (banHolds(user)) {
    deps.loginOutcomes.inc({ outcome: "banned" });
    throw bannedError();
  }
  const result = await openSession(deps, user, client);
  // A password change or "log out everywhere" committed while the password was being checked:
  // the password that was checked is no longer the account's (or its sessions were all ended).
  if (!result) {
    deps.loginOutcomes.inc({ outcome: "invalid_credentials" });
    throw invalidCredentials();
  }
  deps.loginOutcomes.inc({ outcome: "success" });
  const device = allowance.kind === "device" ? { userId: user.id, deviceId: allowance.deviceId } : { userId: user.id };
  return { result, device };
}

/**
 * A new session of `user` with its first refresh token, answered like a login: the end of
 * `/login` and the server API's sessions for the app's own users alike. Created only under the
 * session epoch `user` was read with (undefined when it moved on: a password change, a ban or a
 * "log out everywhere" committed meanwhile); past MAX_SESSIONS_PER_USER the oldest are revoked.
 */
export async function openSession(
  deps: SessionDeps,
  user: UserRow,
  client: ClientInfo & { ttlSeconds?: number | undefined },
): Promise<LoginResult | undefined> {
  const expires_at = new Date(Date.now() + Math.min(client.ttlSeconds ?? deps.sessionTtl, deps.sessionTtl) * 1000);
  const refreshToken = newRefreshToken();
  const session = await repo.insertSessionWithRefreshToken(
    deps.db,
    { user_id: user.id, user_agent: client.userAgent, ip: client.ip, expires_at },
    hashRefreshToken(refreshToken),
    deps.maxSessionsPerUser,
    user.session_epoch,
  );
  if (!session) return undefined;
  if (session.trimmed.length > 0) await publishRevocation(deps.bus, user.id, session.trimmed);
  return answer(deps, session, user, refreshToken);
}

async function revoke(deps: Pick<SessionDeps, "db" | "bus">, userId: string, reason: string, which: repo.RevokeWhich = {}): Promise<string[]> {
  const revoked = await repo.revokeSessions(deps.db, userId, reason, which);
  await publishRevocation(deps.bus, userId, revoked);
  return revoked;
}

/**
 * Ends every session of the user (but `options.except`) and bumps its session epoch, so that a
 * login checked before this cannot leave a session after it (repo.endEverySession). Returns false,
 * changing nothing, when `options.expectEpoch` is given and the epoch had moved on.
 */
export async function endEverySession(
  deps: Pick<SessionDeps, "db" | "bus">,
  userId: string,
  reason: string,
  options: Parameters<typeof repo.endEverySession>[3] = {},
): Promise<boolean> {
  const revoked = await repo.endEverySession(deps.db, userId, reason, options);
  if (!revoked) return false;
  await publishRevocation(deps.bus, userId, revoked);
  return true;
}

type RefreshOutcome = { kind: "ok"; result: LoginResult } | { kind: "reused"; session: SessionRow } | { kind: "refused"; error: AppError };

/**
 * Rotation with reuse detection: the presented token is spent and a new one issued. A token that
 * was already spent means it leaked (or a client raced itself): the whole session is revoked.
 */
export async function refresh(deps: SessionDeps, refreshToken: string): Promise<LoginResult> {
  const hash = hashRefreshToken(refreshToken);
  const outcome = await deps.db.transaction().execute(async (trx): Promise<RefreshOutcome> => {
    const sessionId = await repo.spendRefreshToken(trx, hash);
    if (!sessionId) {
      const spentFor = await repo.findRefreshTokenSession(trx, hash);
      const session = spentFor ? await repo.findSession(trx, spentFor) : undefined;
      if (session) return { kind: "reused", session };
      return { kind: "refused", error: new AppError("unauthorized", 401, "The refresh token is not valid") };
    }
    const session = await repo.findSession(trx, sessionId);
    if (!session) return { kind: "refused", error: sessionError("revoked") };
    const user = await findById(trx, session.user_id);
    if (!user) return { kind: "refused", error: new AppError("session_revoked", 401, "The account no longer exists") };
    // A refresh token speaks for its session's own user: the rule is asked about that user.
    const verdict = sessionVerdict(factsOf({ ...session, banned_until: user.banned_until }), session.user_id);
    if (verdict !== "live") return { kind: "refused", error: sessionError(verdict) };
    await repo.touchSession(trx, session.id);
    const refreshToken = newRefreshToken();
    await repo.insertRefreshToken(trx, session.id, hashRefreshToken(refreshToken));
    return { kind: "ok", result: answer(deps, session, user, refreshToken) };
  });
  if (outcome.kind === "ok") return outcome.result;
  if (outcome.kind === "refused") throw outcome.error;
  await revoke(deps, outcome.session.user_id, "refresh_token_reuse", { ids: [outcome.session.id] });
  throw new AppError("session_revoked", 401, "This refresh token was already used; the session has been revoked");
}

export async function logout(deps: SessionDeps, auth: AuthContext): Promise<void> {
  await revoke(deps, auth.userId, "logout", { ids: [auth.sessionId] });
}

export async function revokeOne(deps: SessionDeps, auth: AuthContext, sessionId: string): Promise<void> {
  const revoked = await revoke(deps, auth.userId, "revoked_by_user", { ids: [sessionId] });
  if (revoked.length === 0) throw new AppError("not_found", 404, "No such active session");
}

export async function revokeAll(deps: SessionDeps, auth: AuthContext): Promise<void> {
  await endEverySession(deps, auth.userId, "revoked_all");
}

export async function list(deps: SessionDeps, auth: AuthContext): Promise<SessionView[]> {
  return (await repo.listActiveSessions(deps.db, auth.userId)).map((s) => sessionView(s, auth.sessionId));
}

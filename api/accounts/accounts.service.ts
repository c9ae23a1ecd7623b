import type { UserView } from "../../shared/contract/views";
import type { Db } from "../../shared/db/db";
import { AppError } from "../../shared/contract/errors";
import { type Limiter, take } from "../../shared/limits/rate-limit";
import type { AuthContext } from "../http/auth";
import { endEverySession, guardedVerify, type SessionDeps } from "../sessions/sessions.service";
import * as repo from "./accounts.repository";
import { userView } from "./accounts.views";
import { MIN_SCORE, type PasswordHasher, passwordStrength } from "./password";
import type { StrengthChecker } from "./strength-worker";

export interface AccountDeps {
  db: Db;
  hasher: PasswordHasher;
  strength: StrengthChecker;
  /** Registrations per client address (shared through Redis). */
  registrations: Limiter;
}

export interface RegisterInput {
  username: string;
  email: string;
  password: string;
}

const takenError = (field: "username" | "email") =>
  new AppError(field === "username" ? "username_taken" : "email_taken", 409, `That ${field} is already registered`);

/** zxcvbn with the account's own names as guessable inputs: 400 `weak_password` with its feedback below the minimum score. */
async function requireStrong(strength: StrengthChecker, password: string, names: string[]): Promise<void> {
  const feedback = await passwordStrength(strength, password, names);
  if (feedback.score < MIN_SCORE) throw new AppError("weak_password", 400, "The password is too easy to guess", { feedback });
}

/**
 * Counts the attempt against the client address, then the cheap checks first (a taken name costs
 * neither zxcvbn nor argon2), then strength, then the argon2id hash; the unique indexes settle races.
 */
export async function register(deps: AccountDeps, input: RegisterInput, ip: string): Promise<UserView> {
  await take(deps.registrations, ip, "Too many registrations from this address; try again later");
  const taken = await repo.findTaken(deps.db, input.username, input.email);
  if (taken.username) throw takenError("username");
  if (taken.email) throw takenError("email");
  await requireStrong(deps.strength, input.password, [input.username, input.email]);
  const password_hash = await deps.hasher.hash(input.password);
  try {
    return userView(await repo.insertUser(deps.db, { username: input.username, email: input.email, password_hash }));
  } catch (err) {
    const pg = err as { code?: string; constraint?: string };
    if (pg.code === "23505") throw takenError(pg.constraint === "users_email_lower_key" ? "email" : "username");
    throw err;
  }
}

export async function me(db: Db, userId: string): Promise<UserView> {
  const user = await repo.findById(db, userId);
  if (!user) throw new AppError("unauthorized", 401, "The account no longer exists");
  return userView(user);
}

/**
 * `PUT /me/password`: the current password is checked like a login (limited, and a wrong one
 * counts as a failed login), the new one is judged as at registration, and every other session
 * of the user is revoked (their sockets end); the caller's session stays. A login in flight with
 * the old password leaves no session once this has answered (the session epoch).
 */
export async function changePassword(
  deps: AccountDeps & Pick<SessionDeps, "limiter" | "loginOutcomes" | "bus">,
  auth: AuthContext,
  input: { current_password: string; new_password: string },
  ip: string,
): Promise<void> {
  const user = await repo.findById(deps.db, auth.userId);
  if (!user) throw new AppError("unauthorized", 401, "The account no longer exists");
  // Judged by the session's own failures: strangers guessing at /login cannot lock its owner out here.
  if (!(await guardedVerify(deps, user, user.username, input.current_password, ip, { kind: "session", sessionId: auth.sessionId }))) {
    throw new AppError("invalid_credentials", 401, "The current password is wrong");
  }
  await requireStrong(deps.strength, input.new_password, [user.username, ...(user.email ? [user.email] : [])]);
  const passwordHash = await deps.hasher.hash(input.new_password);
  // The new hash, the epoch's bump and the other sessions' end commit together, and only if no
  // other change committed since the current password was read (else it is no longer current).
  const changed = await endEverySession(deps, user.id, "password_changed", { except: auth.sessionId, expectEpoch: user.session_epoch, passwordHash });
  if (!changed) throw new AppError("invalid_credentials", 401, "The current password is wrong");
}



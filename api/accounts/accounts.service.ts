import type { UserView } from "../../shared/contracts";
import type { Db } from "../../shared/db/db";
import { AppError } from "../../shared/errors";
import * as repo from "./accounts.repository";
import { userView } from "./accounts.views";
import { MIN_SCORE, type PasswordHasher, passwordStrength } from "./password";
import type { StrengthChecker } from "./strength-worker";

export interface RegisterInput {
  username: string;
  email: string;
  password: string;
}

const takenError = (field: "username" | "email") =>
  new AppError(field === "username" ? "username_taken" : "email_taken", 409, `That ${field} is already registered`);

/** Checks strength, hashes with argon2id and stores the user; the unique indexes settle races. */
export async function register(deps: { db: Db; hasher: PasswordHasher; strength: StrengthChecker }, input: RegisterInput): Promise<UserView> {
  const strength = await passwordStrength(deps.strength, input.password, [input.username, input.email]);
  if (strength.score < MIN_SCORE) {
    throw new AppError("weak_password", 400, "The password is too easy to guess", { feedback: strength });
  }
  // Cheap check first so a taken name does not cost an argon2 hash.
  const taken = await repo.findTaken(deps.db, input.username, input.email);
  if (taken.username) throw takenError("username");
  if (taken.email) throw takenError("email");
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

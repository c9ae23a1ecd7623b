import * as argon2 from "argon2";
import type { Config } from "../../shared/config";
import { BoundedQueue } from "./bounded-queue";
import type { StrengthChecker, StrengthFeedback } from "./strength-worker";

/**
 * zxcvbn sees at most this many characters: its cost grows steeply with length (the figures:
 * docs/benchmark-notes.md, "Password strength"), and a password whose first 64 characters are not
 * guessable is strong anyway.
 */
export const STRENGTH_CHARS = 64;
export const MIN_SCORE = 3;

/** Scores a password with the account's own username and email (and their parts) as guessable inputs. */
export async function passwordStrength(checker: StrengthChecker, password: string, userInputs: string[]): Promise<StrengthFeedback> {
  const inputs = userInputs.flatMap((s) => [s, ...s.split(/[@._-]+/)]).filter((s) => s.length >= 3);
  const result = await checker.check([...password].slice(0, STRENGTH_CHARS).join(""), inputs);
  return {
    score: result.score,
    warning: result.warning || "This password is too easy to guess",
    suggestions: result.suggestions.length ? result.suggestions : ["Add another word or two; uncommon words are better"],
  };
}

/**
 * argon2id with the configured cost, `concurrency` at a time (each one holds `memoryCost` KiB and
 * `parallelism` threads) with at most `queue` waiting: past that a call is refused at once with 503
 * `unavailable` and Retry-After. `verifyUnknown` spends the same time on a made-up hash, so that
 * an unknown user and a wrong password cannot be told apart by timing.
 */
export class PasswordHasher {
  private readonly options: argon2.HashOptions;
  private readonly queue: BoundedQueue;
  private dummyHash: Promise<string> | undefined;

  constructor(params: Config["argon2"]) {
    this.options = { type: argon2.argon2id, memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism };
    this.queue = new BoundedQueue(params.concurrency, params.queue, "password");
  }

  hash(password: string): Promise<string> {
    return this.queue.run(() => argon2.hash(password, this.options));
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.queue.run(() => argon2.verify(hash, password).catch(() => false));
  }

  async verifyUnknown(password: string): Promise<false> {
    this.dummyHash ??= argon2.hash("not-a-real-password-but-the-same-cost", this.options);
    await this.verify(await this.dummyHash, password);
    return false;
  }

  /** Computes the dummy hash ahead of the first unknown-user login, so that one is not slower. */
  async warmUp(): Promise<void> {
    await this.verifyUnknown("warm-up");
  }
}

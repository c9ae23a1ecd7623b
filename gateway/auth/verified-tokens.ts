import { createHash } from "node:crypto";
import type { AccessClaims, TokenVerifier } from "../../shared/auth/tokens";

/**
 * Access tokens whose signature this gateway already verified, by the whole token (its digest): a client
 * that reconnects (a dropped network, a reconnect storm after a gateway restart) presents the same
 * token again, and its signature check (an ECDSA verification), base64 and JSON decoding are skipped. Only the signature check is
 * remembered: expiry is judged again on every use, and the session is still read from PostgreSQL
 * on every handshake. A different string (another signature) is never a hit. Bounded: the oldest
 * of `max` entries is evicted first (a ring, not the head of the map).
 *
 * Kept by the token's SHA-256, not by the token: a token is about 420 characters (440 bytes of heap),
 * its digest 43, and the cache holds up to `max` of them per gateway (at 5,000 connections a
 * gateway, 440 bytes of each one's heap). A string hits only if its digest is a known token's,
 * which SHA-256 makes as hard as forging the signature; the digest costs about 2 µs a handshake.
 * The process's memory then holds no token either.
 */
export class VerifiedTokens {
  private readonly claims = new Map<string, AccessClaims>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(
    private readonly tokens: TokenVerifier,
    private readonly max = 10_000,
  ) {
    this.ring = new Array<string | undefined>(max);
  }

  /** As `TokenVerifier.verify`: the claims, or AppError `invalid_token` / `token_expired` / `unavailable`. */
  async verify(token: string): Promise<AccessClaims> {
    const key = createHash("sha256").update(token).digest("base64url");
    const known = this.claims.get(key);
    // jsonwebtoken's rule: expired once the clock's second reaches `exp`.
    if (known && Date.now() < known.exp * 1000) return known;
    const claims = Object.freeze(await this.tokens.verify(token));
    if (!known) {
      const oldest = this.ring[this.next];
      if (oldest !== undefined) this.claims.delete(oldest);
      this.ring[this.next] = key;
      this.next = (this.next + 1) % this.max;
    }
    this.claims.set(key, claims);
    return claims;
  }

  get size(): number {
    return this.claims.size;
  }
}

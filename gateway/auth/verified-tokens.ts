import type { AccessClaims, TokenVerifier } from "../../shared/auth/tokens";

/**
 * Access tokens whose signature this gateway already verified, by the whole token string: a client
 * that reconnects (a dropped network, a reconnect storm after a gateway restart) presents the same
 * token again, and its signature check (an ECDSA verification), base64 and JSON decoding are skipped. Only the signature check is
 * remembered: expiry is judged again on every use, and the session is still read from PostgreSQL
 * on every handshake. A different string (another signature) is never a hit. Bounded: the oldest
 * of `max` entries is evicted first (a ring, not the head of the map).
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
    const known = this.claims.get(token);
    // jsonwebtoken's rule: expired once the clock's second reaches `exp`.
    if (known && Date.now() < known.exp * 1000) return known;
    const claims = Object.freeze(await this.tokens.verify(token));
    if (!known) {
      const oldest = this.ring[this.next];
      if (oldest !== undefined) this.claims.delete(oldest);
      this.ring[this.next] = token;
      this.next = (this.next + 1) % this.max;
    }
    this.claims.set(token, claims);
    return claims;
  }

  get size(): number {
    return this.claims.size;
  }
}

import { createHash, randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { AppError } from "../contract/errors";
import type { KeySource, SigningKey, TokenKey } from "./keys";
import { isUuid } from "../contract/validation";

export interface AccessClaims {
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

export interface SignedToken {
  token: string;
  expiresAt: Date;
  expiresIn: number;
}

/** Signs access tokens with one key (the api's): ES256 with its private key, or HS256 with a secret. */
export class TokenSigner {
  constructor(
    private readonly key: SigningKey,
    private readonly accessTtlSeconds: number,
  ) {}

  get algorithm() {
    return this.key.alg;
  }

  sign(userId: string, sessionId: string, sessionExpiresAt: Date): SignedToken {
    const iat = Math.floor(Date.now() / 1000);
    // Never outlive the session itself.
    const exp = Math.min(iat + this.accessTtlSeconds, Math.floor(sessionExpiresAt.getTime() / 1000));
    const claims: AccessClaims = { sub: userId, sid: sessionId, jti: randomUUID(), iat, exp };
    const token = jwt.sign(claims, this.key.signWith, { algorithm: this.key.alg, keyid: this.key.kid });
    return { token, expiresAt: new Date(exp * 1000), expiresIn: exp - iat };
  }
}

const invalid = (detail = "The token is malformed, signed with an unknown key, or its signature or claims are invalid") => new AppError("invalid_token", 401, detail);

/** What the header asks for, before anything is trusted. */
function headerOf(token: string): { kid?: unknown; alg?: unknown } | undefined {
  const dot = token.indexOf(".");
  if (dot <= 0) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), "base64url").toString("utf8"));
    return typeof header === "object" && header !== null ? header : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies access tokens against a key source. The key is chosen by the header's `kid`, and the
 * token must ask for exactly that key's algorithm (no `none`, no HS256 against a public key, no
 * token without a `kid`). An unknown `kid` asks the source to refresh once (a gateway's JWKS:
 * a rotated-in key), within the source's own rate limit.
 */
export class TokenVerifier {
  constructor(private readonly keys: KeySource) {}

  /** The claims, or AppError `invalid_token` / `token_expired` (401), or `unavailable` (503) while no key can be had. */
  async verify(token: string): Promise<AccessClaims> {
    const header = headerOf(token);
    if (!header || typeof header.kid !== "string" || typeof header.alg !== "string") throw invalid();
    let key = this.keys.get(header.kid);
    if (!key && this.keys.refresh) {
      const refreshed = await this.keys.refresh();
      if (refreshed === "never") throw new AppError("unavailable", 503, "The keys to verify tokens with are not available yet");
      key = this.keys.get(header.kid);
    }
    if (!key || header.alg !== key.alg) throw invalid();
    return check(token, key);
  }
}

function check(token: string, key: TokenKey): AccessClaims {
  let payload: unknown;
  try {
    payload = jwt.verify(token, key.key, { algorithms: [key.alg] });
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) throw new AppError("token_expired", 401, "The access token has expired");
    throw invalid();
  }
  const c = payload as Partial<AccessClaims>;
  if (!isUuid(c.sub) || !isUuid(c.sid) || typeof c.jti !== "string" || typeof c.iat !== "number" || typeof c.exp !== "number") {
    throw invalid("The token claims are incomplete");
  }
  return c as AccessClaims;
}

/** Refresh tokens are 256 random bits; only their SHA-256 is stored, so a database leak yields no usable token. */
export const newRefreshToken = () => randomBytes(32).toString("base64url");
export const hashRefreshToken = (token: string) => createHash("sha256").update(token).digest("hex");

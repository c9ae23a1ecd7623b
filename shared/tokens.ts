import { createHash, createSecretKey, type KeyObject, randomBytes, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { AppError } from "./errors";
import { isUuid } from "./validation";

/** Only HMAC-SHA256 is ever produced or accepted; `none` and asymmetric confusion are impossible. */
const ALGORITHM = "HS256" as const;

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

/** A key id derived from the secret, so every replica agrees on it without extra configuration. */
export const keyId = (secret: string) => createHash("sha256").update(secret).digest("base64url").slice(0, 16);

/**
 * Signs access tokens with the first secret and verifies with any configured one (key rotation:
 * the previous key keeps verifying its tokens until they expire).
 */
export class TokenService {
  /**
   * KeyObjects made once: given a string, jsonwebtoken first tries to parse it as a PEM public or
   * private key (which throws) on every call, the largest cost of a handshake in the profile.
   */
  private readonly keys: Map<string, KeyObject>;
  private readonly signingKid: string;

  constructor(
    secrets: readonly string[],
    private readonly accessTtlSeconds: number,
  ) {
    if (secrets.length === 0) throw new Error("TokenService needs at least one secret");
    this.keys = new Map(secrets.map((s) => [keyId(s), createSecretKey(Buffer.from(s))]));
    this.signingKid = keyId(secrets[0]!);
  }

  sign(userId: string, sessionId: string, sessionExpiresAt: Date): SignedToken {
    const iat = Math.floor(Date.now() / 1000);
    // Never outlive the session itself.
    const exp = Math.min(iat + this.accessTtlSeconds, Math.floor(sessionExpiresAt.getTime() / 1000));
    const claims: AccessClaims = { sub: userId, sid: sessionId, jti: randomUUID(), iat, exp };
    const token = jwt.sign(claims, this.keys.get(this.signingKid)!, { algorithm: ALGORITHM, keyid: this.signingKid });
    return { token, expiresAt: new Date(exp * 1000), expiresIn: exp - iat };
  }

  /** Returns the claims or throws AppError `invalid_token` / `token_expired` (401). */
  verify(token: string): AccessClaims {
    // The key is picked by `kid` inside jsonwebtoken's own decoding (a key callback answered at
    // once keeps verify synchronous): the token is decoded once, not once here and once there.
    let payload: unknown;
    let error: unknown;
    jwt.verify(
      token,
      (header, done) => {
        const secret = header.kid ? this.keys.get(header.kid) : undefined;
        if (secret) done(null, secret);
        else done(new Error("unknown key"));
      },
      { algorithms: [ALGORITHM] },
      (err, decoded) => {
        error = err;
        payload = decoded;
      },
    );
    if (error || payload === undefined) {
      if (error instanceof jwt.TokenExpiredError) throw new AppError("token_expired", 401, "The access token has expired");
      throw new AppError("invalid_token", 401, "The token is malformed, signed with an unknown key, or its signature or claims are invalid");
    }
    const c = payload as Partial<AccessClaims>;
    if (!isUuid(c.sub) || !isUuid(c.sid) || typeof c.jti !== "string" || typeof c.iat !== "number" || typeof c.exp !== "number") {
      throw new AppError("invalid_token", 401, "The token claims are incomplete");
    }
    return c as AccessClaims;
  }
}

/** Refresh tokens are 256 random bits; only their SHA-256 is stored, so a database leak yields no usable token. */
export const newRefreshToken = () => randomBytes(32).toString("base64url");
export const hashRefreshToken = (token: string) => createHash("sha256").update(token).digest("hex");

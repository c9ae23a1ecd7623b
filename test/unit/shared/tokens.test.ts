import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { AppError } from "../../../shared/errors";
import { hashRefreshToken, keyId, newRefreshToken, TokenService } from "../../../shared/tokens";

const A = "a-secret-that-is-at-least-32-bytes-long!";
const B = "b-secret-that-is-at-least-32-bytes-long!";
const later = new Date(Date.now() + 86_400_000);

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as AppError).code;
  }
  return "accepted";
};

describe("access tokens", () => {
  it("carry sub, sid, jti, iat, exp and a kid header", () => {
    const t = new TokenService([A], 900);
    const user = randomUUID();
    const sid = randomUUID();
    const signed = t.sign(user, sid, later);
    const decoded = jwt.decode(signed.token, { complete: true })!;
    expect(decoded.header).toMatchObject({ alg: "HS256", kid: keyId(A) });
    const claims = t.verify(signed.token);
    expect(claims).toMatchObject({ sub: user, sid });
    expect(claims.exp - claims.iat).toBe(900);
    expect(typeof claims.jti).toBe("string");
    expect(signed.expiresIn).toBe(900);
  });

  it("never outlive their session", () => {
    const t = new TokenService([A], 900);
    const soon = new Date(Date.now() + 60_000);
    expect(t.sign(randomUUID(), randomUUID(), soon).expiresIn).toBeLessThanOrEqual(60);
  });

  it("two tokens signed in the same second differ", () => {
    const t = new TokenService([A], 900);
    const u = randomUUID();
    const s = randomUUID();
    expect(t.sign(u, s, later).token).not.toBe(t.sign(u, s, later).token);
  });

  it("refuses alg none, other algorithms, unknown keys and tampering", () => {
    const t = new TokenService([A], 900);
    const claims = { sub: randomUUID(), sid: randomUUID(), jti: "x", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 };
    const none = jwt.sign(claims, "", { algorithm: "none", keyid: keyId(A) } as jwt.SignOptions);
    expect(code(() => t.verify(none))).toBe("invalid_token");
    const hs512 = jwt.sign(claims, A, { algorithm: "HS512", keyid: keyId(A) });
    expect(code(() => t.verify(hs512))).toBe("invalid_token");
    const otherKey = jwt.sign(claims, B, { algorithm: "HS256", keyid: keyId(B) });
    expect(code(() => t.verify(otherKey))).toBe("invalid_token");
    const forgedKid = jwt.sign(claims, B, { algorithm: "HS256", keyid: keyId(A) });
    expect(code(() => t.verify(forgedKid))).toBe("invalid_token");
    const good = t.sign(claims.sub, claims.sid, later).token;
    const [h, p, s] = good.split(".");
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString("base64url")}.${s}`;
    expect(code(() => t.verify(tampered))).toBe("invalid_token");
    expect(code(() => t.verify(`${h}.${p}`))).toBe("invalid_token");
    expect(code(() => t.verify("garbage"))).toBe("invalid_token");
  });

  it("reports expiry as token_expired", () => {
    const t = new TokenService([A], 900);
    const now = Math.floor(Date.now() / 1000);
    const expired = jwt.sign({ sub: randomUUID(), sid: randomUUID(), jti: "j", iat: now - 100, exp: now - 10 }, A, { algorithm: "HS256", keyid: keyId(A) });
    expect(code(() => t.verify(expired))).toBe("token_expired");
  });

  it("keeps verifying the previous key after rotation, and signs with the new one", () => {
    const old = new TokenService([A], 900);
    const rotated = new TokenService([B, A], 900);
    const before = old.sign(randomUUID(), randomUUID(), later).token;
    expect(code(() => rotated.verify(before))).toBe("accepted");
    const after = rotated.sign(randomUUID(), randomUUID(), later).token;
    expect(jwt.decode(after, { complete: true })!.header.kid).toBe(keyId(B));
    expect(code(() => old.verify(after))).toBe("invalid_token");
    // Once the old key is dropped, its tokens stop verifying.
    expect(code(() => new TokenService([B], 900).verify(before))).toBe("invalid_token");
  });
});

describe("refresh tokens", () => {
  it("are random and stored only as a hash", () => {
    const a = newRefreshToken();
    expect(a).not.toBe(newRefreshToken());
    expect(a.length).toBeGreaterThanOrEqual(43);
    expect(hashRefreshToken(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRefreshToken(a)).not.toContain(a);
  });
});

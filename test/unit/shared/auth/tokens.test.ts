import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { AppError } from "../../../../shared/contract/errors";
import { es256SigningKey, hs256Key, KeyRing, type KeySource, type SigningKey, type TokenKey } from "../../../../shared/auth/keys";
import { hashRefreshToken, newRefreshToken, TokenSigner, TokenVerifier } from "../../../../shared/auth/tokens";

const pem = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const A = es256SigningKey(pem());
const B = es256SigningKey(pem());
const SECRET = "a-secret-that-is-at-least-32-bytes-long!";
const later = new Date(Date.now() + 86_400_000);
/** What a verifier holds: public halves only. */
const publicOf = (k: SigningKey): TokenKey => ({ kid: k.kid, alg: k.alg, key: k.key });
const verifierOf = (...keys: SigningKey[]) => new TokenVerifier(new KeyRing(keys.map(publicOf)));

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as AppError).code;
  }
  return "accepted";
};
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("access tokens", () => {
  it("carry sub, sid, jti, iat, exp, ES256 and the key's thumbprint as kid", async () => {
    const t = new TokenSigner(A, 900);
    const user = randomUUID();
    const sid = randomUUID();
    const signed = t.sign(user, sid, later);
    expect(jwt.decode(signed.token, { complete: true })!.header).toMatchObject({ alg: "ES256", kid: A.kid });
    expect(A.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const claims = await verifierOf(A).verify(signed.token);
    expect(claims).toMatchObject({ sub: user, sid });
    expect(claims.exp - claims.iat).toBe(900);
    expect(typeof claims.jti).toBe("string");
    expect(signed.expiresIn).toBe(900);
  });

  it("never outlive their session", () => {
    const soon = new Date(Date.now() + 60_000);
    expect(new TokenSigner(A, 900).sign(randomUUID(), randomUUID(), soon).expiresIn).toBeLessThanOrEqual(60);
  });

  it("two tokens signed in the same second differ", () => {
    const t = new TokenSigner(A, 900);
    const u = randomUUID();
    const s = randomUUID();
    expect(t.sign(u, s, later).token).not.toBe(t.sign(u, s, later).token);
  });

  it("refuses alg none, other algorithms, unknown keys, a missing kid and tampering", async () => {
    const v = verifierOf(A);
    const claims = { sub: randomUUID(), sid: randomUUID(), jti: "x", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 };
    const none = jwt.sign(claims, "", { algorithm: "none", keyid: A.kid } as jwt.SignOptions);
    expect(await code(v.verify(none))).toBe("invalid_token");
    const es512 = `${b64({ alg: "ES512", kid: A.kid })}.${b64(claims)}.${"A".repeat(176)}`;
    expect(await code(v.verify(es512))).toBe("invalid_token");
    expect(await code(v.verify(new TokenSigner(B, 900).sign(claims.sub, claims.sid, later).token))).toBe("invalid_token");
    const noKid = jwt.sign(claims, A.signWith, { algorithm: "ES256" });
    expect(await code(v.verify(noKid))).toBe("invalid_token");
    const good = new TokenSigner(A, 900).sign(claims.sub, claims.sid, later).token;
    const [h, p, s] = good.split(".");
    expect(await code(v.verify(`${h}.${b64({ ...claims, sub: randomUUID() })}.${s}`))).toBe("invalid_token");
    expect(await code(v.verify(`${h}.${p}`))).toBe("invalid_token");
    expect(await code(v.verify("garbage"))).toBe("invalid_token");
  });

  it("refuses a token whose header asks for HS256 against a public key (algorithm confusion)", async () => {
    const v = verifierOf(A);
    const claims = { sub: randomUUID(), sid: randomUUID(), jti: "x", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 };
    const input = `${b64({ alg: "HS256", typ: "JWT", kid: A.kid })}.${b64(claims)}`;
    const publicForms = [A.key.export({ format: "pem", type: "spki" }).toString(), JSON.stringify(A.key.export({ format: "jwk" })), A.key.export({ format: "der", type: "spki" })];
    for (const secret of publicForms) {
      expect(await code(v.verify(`${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`))).toBe("invalid_token");
    }
  });

  it("pins HS256 to its secret: an ES256 header naming the secret's kid is refused", async () => {
    const hs = hs256Key(SECRET);
    const v = new TokenVerifier(new KeyRing([hs]));
    const ok = new TokenSigner(hs, 900).sign(randomUUID(), randomUUID(), later).token;
    expect(await code(v.verify(ok))).toBe("accepted");
    const lying = `${b64({ alg: "ES256", kid: hs.kid })}.${ok.split(".")[1]}.${ok.split(".")[2]}`;
    expect(await code(v.verify(lying))).toBe("invalid_token");
  });

  it("reports expiry as token_expired", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = jwt.sign({ sub: randomUUID(), sid: randomUUID(), jti: "j", iat: now - 100, exp: now - 10 }, A.signWith, { algorithm: "ES256", keyid: A.kid });
    expect(await code(verifierOf(A).verify(expired))).toBe("token_expired");
  });

  it("keeps verifying the previous key after rotation, and signs with the new one", async () => {
    const before = new TokenSigner(A, 900).sign(randomUUID(), randomUUID(), later).token;
    const rotated = verifierOf(B, A);
    expect(await code(rotated.verify(before))).toBe("accepted");
    const after = new TokenSigner(B, 900).sign(randomUUID(), randomUUID(), later).token;
    expect(jwt.decode(after, { complete: true })!.header.kid).toBe(B.kid);
    expect(await code(verifierOf(A).verify(after))).toBe("invalid_token");
    // Once the old key is dropped, its tokens stop verifying.
    expect(await code(verifierOf(B).verify(before))).toBe("invalid_token");
  });

  it("asks the key source again for an unknown kid, and answers unavailable while it has no key at all", async () => {
    const known = new Map<string, TokenKey>();
    let refreshes = 0;
    let reachable = false;
    const source: KeySource = {
      get: (kid) => known.get(kid),
      async refresh() {
        refreshes += 1;
        if (!reachable) return "never";
        known.set(B.kid, publicOf(B));
        return "changed";
      },
    };
    const v = new TokenVerifier(source);
    const token = new TokenSigner(B, 900).sign(randomUUID(), randomUUID(), later).token;
    expect(await code(v.verify(token))).toBe("unavailable");
    reachable = true;
    expect(await code(v.verify(token))).toBe("accepted");
    expect(await code(v.verify(token))).toBe("accepted");
    expect(refreshes).toBe(2);
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

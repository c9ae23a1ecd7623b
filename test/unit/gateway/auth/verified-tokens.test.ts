import { describe, expect, it } from "vitest";
import { VerifiedTokens } from "../../../../gateway/auth/verified-tokens";
import { TokenService } from "../../../../shared/tokens";

const SID = "00000000-0000-4000-8000-000000000001";
const SUB = "00000000-0000-4000-8000-000000000002";

describe("verified tokens (the handshake's signature cache)", () => {
  it("verifies a token's signature once and answers its claims again from memory", () => {
    const tokens = new TokenService(["a".repeat(43)], 600);
    let verifications = 0;
    const counting = Object.assign(Object.create(tokens) as TokenService, {
      verify: (t: string) => {
        verifications += 1;
        return tokens.verify(t);
      },
    });
    const cache = new VerifiedTokens(counting, 2);
    const token = tokens.sign(SUB, SID, new Date(Date.now() + 600_000)).token;
    expect(cache.verify(token)).toMatchObject({ sub: SUB, sid: SID });
    expect(cache.verify(token)).toMatchObject({ sub: SUB, sid: SID });
    expect(verifications).toBe(1);
    // A forged signature is another string: verified, and refused.
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(43)}`;
    expect(() => cache.verify(forged)).toThrow(expect.objectContaining({ code: "invalid_token" }));
    // Bounded: two more tokens push the first one out, and it is verified again.
    for (const sid of ["00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004"]) cache.verify(tokens.sign(SUB, sid, new Date(Date.now() + 600_000)).token);
    expect(cache.size).toBe(2);
    cache.verify(token);
    expect(verifications).toBe(5);
  });

  it("judges expiry on every use", () => {
    const tokens = new TokenService(["b".repeat(43)], 1);
    const cache = new VerifiedTokens(tokens);
    const token = tokens.sign(SUB, SID, new Date(Date.now() + 600_000)).token;
    const claims = cache.verify(token);
    const realNow = Date.now;
    try {
      Date.now = () => claims.exp * 1000;
      expect(() => cache.verify(token)).toThrow(expect.objectContaining({ code: "token_expired" }));
    } finally {
      Date.now = realNow;
    }
  });
});

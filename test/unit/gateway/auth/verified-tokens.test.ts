import { describe, expect, it } from "vitest";
import { VerifiedTokens } from "../../../../gateway/auth/verified-tokens";
import { es256SigningKey, KeyRing } from "../../../../shared/auth/keys";
import { TokenVerifier } from "../../../../shared/auth/tokens";
import { TEST_PRIVATE_KEY, testSigner } from "../../../support/config";

const SID = "00000000-0000-4000-8000-000000000001";
const SUB = "00000000-0000-4000-8000-000000000002";
const key = es256SigningKey(TEST_PRIVATE_KEY);
const ring = () => new KeyRing([{ kid: key.kid, alg: key.alg, key: key.key }]);

/** A verifier that counts its signature checks. */
class CountingVerifier extends TokenVerifier {
  calls = 0;
  override verify(token: string) {
    this.calls += 1;
    return super.verify(token);
  }
}

describe("verified tokens (the handshake's signature cache)", () => {
  it("verifies a token's signature once and answers its claims again from memory", async () => {
    const tokens = testSigner(600);
    const counting = new CountingVerifier(ring());
    const cache = new VerifiedTokens(counting, 2);
    const token = tokens.sign(SUB, SID, new Date(Date.now() + 600_000)).token;
    expect(await cache.verify(token)).toMatchObject({ sub: SUB, sid: SID });
    expect(await cache.verify(token)).toMatchObject({ sub: SUB, sid: SID });
    expect(counting.calls).toBe(1);
    // A forged signature is another string: verified, and refused.
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    await expect(cache.verify(forged)).rejects.toMatchObject({ code: "invalid_token" });
    // Bounded: two more tokens push the first one out, and it is verified again.
    for (const sid of ["00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004"]) await cache.verify(tokens.sign(SUB, sid, new Date(Date.now() + 600_000)).token);
    expect(cache.size).toBe(2);
    await cache.verify(token);
    expect(counting.calls).toBe(5);
  });

  it("judges expiry on every use", async () => {
    const tokens = testSigner(1);
    const cache = new VerifiedTokens(new TokenVerifier(ring()));
    const token = tokens.sign(SUB, SID, new Date(Date.now() + 600_000)).token;
    const claims = await cache.verify(token);
    const realNow = Date.now;
    try {
      Date.now = () => claims.exp * 1000;
      await expect(cache.verify(token)).rejects.toMatchObject({ code: "token_expired" });
    } finally {
      Date.now = realNow;
    }
  });
});

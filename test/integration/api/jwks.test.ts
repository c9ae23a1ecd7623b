import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jwkSetView } from "../../../shared/contract/views";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { httpClient, registerAndLogin } from "../../support/http";

let tdb: TestDatabase;
let api: ApiFixture;

beforeAll(async () => {
  tdb = await createTestDatabase();
  api = await startApi({ database: tdb });
});
afterAll(async () => {
  await api?.close();
  await tdb?.drop();
});

describe("GET /.well-known/jwks.json", () => {
  it("is a JWK Set that an independent JOSE library accepts and verifies the api's tokens with", async () => {
    const res = await fetch(`${api.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/max-age=\d+/);
    const jwks = (await res.json()) as JSONWebKeySet;
    expect(jwkSetView.safeParse(jwks).success).toBe(true);
    // Public members only: no private scalar `d`, no symmetric `k`.
    for (const key of jwks.keys) expect(Object.keys(key).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);

    // jose (panva/jose) is not what the servers use: it checks the set and the signature on its own terms.
    const keySet = createLocalJWKSet(jwks);
    const u = await registerAndLogin(httpClient(api.url), "jwks");
    const { payload, protectedHeader } = await jwtVerify(u.token, keySet, { algorithms: ["ES256"] });
    expect(protectedHeader).toMatchObject({ alg: "ES256", kid: jwks.keys[0]!.kid });
    expect(payload).toMatchObject({ sub: u.user.id, sid: u.sessionId });
  });
});

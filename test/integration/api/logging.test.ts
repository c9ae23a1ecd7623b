import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../shared/logger";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { httpClient, newCredentials } from "../../support/http";

let tdb: TestDatabase;
let server: ApiFixture;
const lines: string[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase();
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  server = await startApi({ database: tdb, logger: createLogger({ level: "trace", destination: sink }) });
});
afterAll(async () => {
  await server?.close();
  await tdb?.drop();
});

describe("logs", () => {
  it("are JSON lines with a request id and never carry a password, token or refresh token", async () => {
    const http = httpClient(server.url);
    const creds = newCredentials("logs");
    await http.post("/register", creds);
    await http.post("/register", { ...newCredentials("weaklog"), password: "password1" });
    const login = await http.post("/login", { username: creds.username, password: creds.password }, { "x-request-id": "req-abc.123" });
    expect(login.headers.get("x-request-id")).toBe("req-abc.123");
    await http.post("/login", { username: creds.username, password: "Wrong-Password-42" });
    const refreshed = await http.post("/token/refresh", { refresh_token: login.body.refresh_token });
    await http.post("/token/refresh", { refresh_token: login.body.refresh_token }); // reuse: revokes
    await http.get(`/me?token=${refreshed.body.token}`, { authorization: `Bearer ${refreshed.body.token}` });
    await http.get("/does-not-exist?access_token=secret-value-in-query");

    expect(lines.length).toBeGreaterThan(5);
    const records = lines.map((l) => JSON.parse(l) as { req?: { id?: string; url?: string } });
    expect(records.some((r) => r.req?.id === "req-abc.123")).toBe(true);
    expect(records.filter((r) => r.req).every((r) => typeof r.req!.id === "string")).toBe(true);
    const all = lines.join("\n");
    const device = login.headers.get("x-device")!;
    for (const secret of [creds.password, "Wrong-Password-42", "password1", login.body.token, login.body.refresh_token, refreshed.body.token, refreshed.body.refresh_token, "secret-value-in-query", device]) {
      expect(all).not.toContain(secret);
    }
    expect(all).toContain("[redacted]");
  });

  it("warn once when requests come through a proxy TRUST_PROXY does not name", async () => {
    const warning = () => lines.filter((l) => l.includes("TRUST_PROXY is unset")).length;
    const http = httpClient(server.url);
    await http.get("/healthz");
    expect(warning()).toBe(0);
    await http.get("/healthz", { "x-forwarded-for": "203.0.113.7" });
    await http.get("/healthz", { "x-forwarded-for": "203.0.113.8" });
    expect(warning()).toBe(1);
    expect(JSON.parse(lines.find((l) => l.includes("TRUST_PROXY is unset"))!).level).toBe(40);
  });
});

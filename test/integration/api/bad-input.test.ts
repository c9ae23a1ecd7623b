import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProblemBody } from "../../../shared/contract/errors";
import { createTestDatabase, databaseAt, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { type HttpClient, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { startTcpProxy } from "../../support/tcp-proxy";
import { eventually } from "../../support/waits";

let tdb: TestDatabase;
let server: ApiFixture;
let http: HttpClient;
let user: LoggedIn;
let chatId: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  server = await startApi({ database: tdb });
  http = httpClient(server.url);
  user = await registerAndLogin(http, "bad");
  chatId = (await user.http.post("/chats", { name: "bad input" })).body.chat.id;
});
afterAll(async () => {
  await server?.close();
  await tdb?.drop();
});

/**
 * A raw request, so that headers and bodies can be as broken as a hostile client makes them. Its
 * answer's body: the problem the api answers with (a JSON object), else undefined.
 */
function raw(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<{ status: number; type: string; body: Partial<ProblemBody> | undefined }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url + path);
    const req = httpRequest({ method, host: url.hostname, port: url.port, path: url.pathname + url.search, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        const problem = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Partial<ProblemBody>) : undefined;
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: problem });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const json = { "content-type": "application/json" };

describe("malformed requests get the contract's 4xx", () => {
  it("not JSON → 400 invalid_body", async () => {
    for (const body of ["{bad", "", "{'a':1}", "undefined", '{"username":"x",}', "\u0000"]) {
      const res = await raw("POST", "/login", { ...json, "content-length": String(Buffer.byteLength(body)) }, body);
      if (body === "") {
        // An empty body is "no body": the fields are missing.
        expect(res.status).toBe(400);
      } else {
        expect(res.status, body).toBe(400);
      }
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.body?.code).toBe("invalid_body");
    }
  });

  it("JSON that is not an object → 400 invalid_body", async () => {
    for (const body of ["[]", "[1,2]", '"text"', "42", "null", "true"]) {
      const res = await raw("POST", "/register", json, body);
      expect(res.status, body).toBe(400);
      expect(res.body?.code).toBe("invalid_body");
    }
  });

  it("a body that is not JSON → 415 unsupported_media_type", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]) {
      const res = await raw("POST", "/login", { "content-type": type }, "username=a&password=b");
      expect(res.status, type).toBe(415);
      expect(res.body?.code).toBe("unsupported_media_type");
    }
    const noType = await raw("POST", "/login", {}, '{"username":"a","password":"b"}');
    expect(noType.status).toBe(415);
    const gzip = await raw("POST", "/login", { ...json, "content-encoding": "gzip" }, Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
    expect(gzip.status).toBe(415);
    const latin1 = await raw("POST", "/login", { "content-type": "application/json; charset=latin1" }, '{"username":"a","password":"b"}');
    expect(latin1.status).toBe(415);
  });

  it("over 16 KiB → 413 payload_too_large", async () => {
    const big = JSON.stringify({ username: "x".repeat(17 * 1024), password: "y" });
    const res = await raw("POST", "/login", json, big);
    expect(res.status).toBe(413);
    expect(res.body?.code).toBe("payload_too_large");
    const chunked = await raw("POST", `/chats/${chatId}/messages`, { ...json, authorization: `Bearer ${user.token}`, "transfer-encoding": "chunked" }, big);
    expect(chunked.status).toBe(413);
  });

  it("wrong types, missing and extra fields → 400 with per-field errors", async () => {
    const cases: [string, unknown][] = [
      ["/register", { username: 123, email: true, password: null }],
      ["/register", { username: "abc" }],
      ["/register", { username: "valid_name", email: "a@b.co", password: "Xy7!long-enough-pw", admin: true }],
      ["/login", { username: ["a"], password: { $ne: "" } }],
      ["/login", { username: "a" }],
      ["/token/refresh", { refresh_token: 5 }],
      ["/token/refresh", {}],
    ];
    for (const [path, body] of cases) {
      const res = await raw("POST", path, json, JSON.stringify(body));
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body?.code).toBe("invalid_body");
      expect(Array.isArray(res.body?.errors)).toBe(true);
      expect(res.body?.errors?.length).toBeGreaterThan(0);
    }
    const proto = await raw("POST", "/register", json, '{"__proto__":{"x":1},"username":"valid_name","email":"a@b.co","password":"Xy7!long-enough-pw"}');
    expect(proto.status).toBe(400);
  });

  it("odd unicode: NUL, lone surrogates, invisible characters → 400, never a 5xx", async () => {
    const bodies = [
      '{"username":"ab\\u0000c","password":"x"}',
      '{"username":"\\ud800abc","password":"x"}',
      '{"username":"abc","password":"\\udfff\\ud800"}',
      '{"username":"a\\u202eb\\u200bc","email":"x@y.z","password":"Xy7!long-enough-pw"}',
    ];
    for (const body of bodies) {
      const res = await raw("POST", body.includes("email") ? "/register" : "/login", json, body);
      expect(res.status, body).toBe(400);
      expect(res.body?.code).toBe("invalid_body");
    }
    const nulText = await raw("POST", `/chats/${chatId}/messages`, { ...json, authorization: `Bearer ${user.token}` }, '{"text":"a\\u0000b"}');
    expect(nulText.status).toBe(400);
    const loneText = await raw("POST", `/chats/${chatId}/messages`, { ...json, authorization: `Bearer ${user.token}` }, '{"text":"\\ud83d"}');
    expect(loneText.status).toBe(400);
    const rtl = await user.http.post(`/chats/${chatId}/messages`, { text: "\u202eRTL, 𝒻𝒶𝓃𝒸𝓎, e\u0301, 👩‍👩‍👧" });
    expect(rtl.status).toBe(201);
    expect(rtl.body.message.text).toBe("\u202eRTL, 𝒻𝒶𝓃𝒸𝓎, e\u0301, 👩‍👩‍👧");
  });

  it("deeply nested JSON → 400, not a crash", async () => {
    const deep = `{"username":${"[".repeat(5000)}${"]".repeat(5000)},"password":"x"}`;
    const res = await raw("POST", "/login", json, deep);
    expect(res.status).toBe(400);
  });

  it("unknown routes and methods → 404 problem", async () => {
    for (const [m, p] of [["GET", "/nope"], ["PUT", "/login"], ["PATCH", "/chats"], ["GET", "/register"]] as const) {
      const res = await raw(m, p, {});
      expect(res.status).toBe(404);
      expect(res.body?.code).toBe("not_found");
    }
  });

  it("random junk on every call never gets a 5xx", async () => {
    const junk: unknown[] = [
      {},
      { text: 1 },
      { name: [], members: "x" },
      { name: "ok", members: [1, 2] },
      { name: "ok", members: Array.from({ length: 101 }, (_, i) => `u${i}`) },
      { username: "x".repeat(300) },
      { refresh_token: "x".repeat(1000) },
      { text: "x", client_id: "y".repeat(65) },
      { text: "x", client_id: 5 },
      { a: { b: { c: { d: [null, true, 1e308, -0, "é"] } } } },
    ];
    const paths = ["/register", "/login", "/token/refresh", "/chats", `/chats/${chatId}/messages`, `/chats/${chatId}/invites`, "/invites/x/accept"];
    for (const path of paths) {
      for (const body of junk) {
        const res = await user.http.post(path, body);
        expect(res.status, `${path} ${JSON.stringify(body).slice(0, 80)}`).toBeGreaterThanOrEqual(200);
        expect(res.status, `${path} ${JSON.stringify(body).slice(0, 80)}`).toBeLessThan(500);
      }
    }
    // The service is still fine afterwards.
    expect((await user.http.get("/me")).status).toBe(200);
  });
});

describe("PostgreSQL unavailable", () => {
  it("answers 503 unavailable and /readyz 503, and keeps serving", async () => {
    // Nothing listens on port 1: every query fails to connect, as when PostgreSQL is down.
    const deadDb = databaseAt("postgres://postgres@127.0.0.1:1/none");
    const down = await startApi({ database: deadDb });
    try {
      const c = httpClient(down.url);
      const login = await c.post("/login", { username: "someone", password: "whatever-pw" });
      expect(login.status).toBe(503);
      expect(login.body.code).toBe("unavailable");
      expect(Number(login.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await c.as(user.token).get("/me")).status).toBe(503);
      const ready = await c.get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ code: "unavailable", checks: { database: "down" } });
      expect((await c.get("/healthz")).status).toBe(200);
    } finally {
      await down.close();
      await deadDb.drop();
    }
  });

  it("recovers by itself when PostgreSQL comes back", async () => {
    const target = new URL(tdb.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(tdb.url);
    viaProxy.port = String(proxy.port);
    const db = databaseAt(viaProxy.toString());
    const flaky = await startApi({ database: db });
    try {
      const c = httpClient(flaky.url).as(user.token);
      expect((await c.get("/me")).status).toBe(200);
      await proxy.cut();
      const down = await c.get("/me");
      expect(down.status).toBe(503);
      expect(down.body.code).toBe("unavailable");
      await proxy.restore();
      await eventually(async () => (await c.get("/me")).status === 200, 5_000, "GET /me answered again");
      expect((await httpClient(flaky.url).get("/readyz")).status).toBe(200);
    } finally {
      await flaky.close();
      await db.drop();
      await proxy.close();
    }
  });
});

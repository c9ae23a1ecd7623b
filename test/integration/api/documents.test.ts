import { randomUUID } from "node:crypto";
import { get } from "node:http";
import { Parser } from "@asyncapi/parser";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { documentedRoutes } from "../../../api/documents/openapi";
import { OPERATIONS } from "../../../api/server-api/operations";
import { createServerKey } from "../../../api/server-api/server-keys";
import { WEBHOOK_EVENT_TYPES } from "../../../shared/contract/server";
import type { ServerScope } from "../../../shared/db/schema";
import { DocumentChecker } from "../../support/documents";
import { type SingleNode, startApi, startSingleNode } from "../../support/fixtures";
import { chatWith, httpClient, newCredentials, registerAndLogin } from "../../support/http";
import { askNamed, type ClientSocket } from "../../support/socket-client";
import { eventually, nextEventNamed } from "../../support/waits";
import { WebhookReceiver } from "../../support/webhook-receiver";

let node: SingleNode;
let openapi: Record<string, any>;
let asyncapi: Record<string, any>;
let docs: DocumentChecker;

beforeAll(async () => {
  node = await startSingleNode();
  openapi = (await (await fetch(`${node.url}/openapi.json`)).json()) as Record<string, any>;
  asyncapi = (await (await fetch(`${node.url}/asyncapi.json`)).json()) as Record<string, any>;
  docs = new DocumentChecker(openapi, asyncapi);
});
afterAll(async () => {
  await node?.close();
});

/**
 * One call of a documented operation (`/chats/{id}` with its params filled in); its answer is
 * checked against the document before the test looks at it.
 */
async function call(method: string, path: string, o: { params?: Record<string, string>; body?: unknown; token?: string; raw?: { type: string; data: string } } = {}) {
  const url = path.replace(/\{(\w+)\}/g, (_, name: string) => o.params?.[name] ?? "");
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let payload: string | undefined;
  if (o.raw) {
    headers["content-type"] = o.raw.type;
    payload = o.raw.data;
  } else if (o.body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(o.body);
  }
  const res = await fetch(node.url + url, { method, headers, body: payload });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  docs.httpResponse(method, path.split("?")[0]!, res.status, res.headers.get("content-type"), body);
  return { status: res.status, body, headers: res.headers };
}

/** A new server key with these scopes (the secret itself). */
const serverKey = async (scopes: ServerScope[]) => (await createServerKey(node.database.db, `docs-${scopes.join("-")}`, scopes)).key;

async function account() {
  const creds = newCredentials("doc");
  expect((await call("POST", "/register", { body: creds })).status).toBe(201);
  const login = await call("POST", "/login", { body: { username: creds.username, password: creds.password } });
  expect(login.status).toBe(200);
  return { ...creds, id: login.body.user.id as string, token: login.body.token as string, refresh: login.body.refresh_token as string, sessionId: login.body.session_id as string };
}

describe("the published documents", () => {
  it("/openapi.json is a valid OpenAPI 3.1 document", async () => {
    expect(openapi.openapi).toBe("3.1.0");
    const result = await new Validator().validate(structuredClone(openapi));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("/asyncapi.json is a valid AsyncAPI 3 document", async () => {
    expect(asyncapi.asyncapi).toMatch(/^3\./);
    const diagnostics = await new Parser().validate(JSON.stringify(asyncapi));
    // Severity 0 is an error, 1 a warning; 2 and 3 are hints (such as "3.1.0 exists").
    expect(diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code} ${d.message} at ${d.path.join(".")}`)).toEqual([]);
  });

  it("publish one message id format, wherever an id is taken or given", () => {
    const history = openapi.paths["/chats/{id}/messages"].get.parameters as { name: string; schema: { pattern?: string } }[];
    const patterns = [
      openapi.components.schemas.Message.properties.id.pattern,
      ...history.filter((p) => p.name === "before" || p.name === "after").map((p) => p.schema.pattern),
      asyncapi.components.schemas.Message.properties.id.pattern,
      asyncapi.channels.socket.messages.chatJoin.payload.properties.after.pattern,
    ];
    expect(patterns).toHaveLength(5);
    expect(new Set(patterns)).toEqual(new Set(["^[1-9][0-9]{0,18}$"]));
  });

  it("documents every route the api serves, and serves every documented one", async () => {
    const served: string[] = [];
    /** express 5's router layers, as far as this walk reads them. */
    interface Layer {
      route?: { path: string; methods: Record<string, boolean> };
      handle?: { stack?: Layer[] };
    }
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.route) for (const m of Object.keys(layer.route.methods)) served.push(`${m.toUpperCase()} ${layer.route.path}`);
        else if (layer.handle?.stack) walk(layer.handle.stack);
      }
    };
    const api = await startApi({ database: node.database });
    try {
      walk((api.api.app as unknown as { router: { stack: Layer[] } }).router.stack);
    } finally {
      await api.close();
    }
    const own = served.filter((r) => !/ \/(metrics|openapi\.json|asyncapi\.json|favicon\.ico|docs,\/docs\/)$/.test(r) && !r.startsWith("GET /docs"));
    // The user API's member route names its parameter userId; the server API's keeps user_id.
    const expressPaths = documentedRoutes.map((r) => r.replace(/^(DELETE \/chats\/:id\/members\/):user_id$/, "$1:userId"));
    expect([...own].sort()).toEqual([...expressPaths].sort());
  });

  it("documents the server API from its table of calls: a server key on each, the batch call, app:event", () => {
    const serverOps = Object.entries(openapi.paths)
      .filter(([path]) => path.startsWith("/server/v1/"))
      .flatMap(([path, ops]) => Object.entries(ops as Record<string, any>).map(([method, op]) => ({ call: `${method.toUpperCase()} ${path}`, op })));
    const scopeOf = new Map(OPERATIONS.map((o) => [`${o.method.toUpperCase()} /server/v1${o.path}`, o.scope]));
    expect(serverOps.map((o) => o.call).sort()).toEqual([...scopeOf.keys(), "POST /server/v1/batch"].sort());

    const scheme = openapi.components.securitySchemes.serverKey;
    expect(scheme).toMatchObject({ type: "http", scheme: "bearer" });
    expect(scheme.description).toMatch(/server key/);
    expect(scheme.description).toMatch(/not a JWT/);
    for (const { call, op } of serverOps) {
      const scope = scopeOf.get(call);
      // A call needs a key with its scope; the batch call any key (each call in it checks its own).
      expect([call, op.security]).toEqual([call, [{ serverKey: scope ? [scope] : [] }]]);
      expect([call, op.tags]).toEqual([call, ["server"]]);
      const statuses = ["400", "401", "413", "415", "429", "503", ...(scope ? ["403"] : [])];
      expect([call, statuses.filter((s) => op.responses[s]?.content?.["application/problem+json"] === undefined)]).toEqual([call, []]);
      for (const param of op.parameters ?? []) {
        if (param.in === "query") {
          expect([call, param.name]).toEqual([call, expect.stringMatching(/^(status|limit)$/)]);
          continue;
        }
        expect([call, param.name, param.in]).toEqual([call, param.name, "path"]);
        if (param.name === "external_id") expect(param.schema.pattern).toBe("^[A-Za-z0-9_.:@|-]{1,128}$");
        else if (param.name === "delivery_id") expect(param.schema.pattern).toBe("^\\d{1,18}$");
        else expect([call, param.name, param.schema.format]).toEqual([call, param.name, "uuid"]);
      }
    }
    expect(openapi.paths["/server/v1/users/{external_id}"].put.parameters.map((p: { name: string }) => p.name)).toEqual(["external_id"]);
    expect(openapi.paths["/server/v1/chats/{id}/members/{user_id}"].put.parameters.map((p: { name: string }) => p.name)).toEqual(["id", "user_id"]);
    // No user call takes a server key.
    for (const [path, ops] of Object.entries(openapi.paths)) {
      if (path.startsWith("/server/")) continue;
      for (const op of Object.values(ops as Record<string, any>)) expect([path, (op.security ?? []).some((s: object) => "serverKey" in s)]).toEqual([path, false]);
    }

    const batch = openapi.paths["/server/v1/batch"].post;
    expect(batch.requestBody.content["application/json"].schema.$ref).toBe("#/components/schemas/BatchBody");
    expect(batch.responses["200"].content["application/json"].schema.$ref).toBe("#/components/schemas/BatchResult");
    expect(openapi.components.schemas.BatchBody.properties.calls.maxItems).toBe(100);
    expect(openapi.paths["/server/v1/chats/{id}/messages"].post.requestBody.content["application/json"].schema.$ref).toBe("#/components/schemas/ServerMessageBody");
    expect(openapi.tags.map((t: { name: string }) => t.name)).toContain("server");
    expect(openapi.components.schemas.User.properties.email.type).toEqual(["string", "null"]);

    expect(asyncapi.channels.socket.messages.appEvent).toMatchObject({ name: "app:event", payload: { $ref: "#/components/schemas/AppEvent" } });
    expect(asyncapi.operations.appEvent).toMatchObject({ action: "send", messages: [{ $ref: "#/channels/socket/messages/appEvent" }] });
    expect(asyncapi.components.schemas.AppEvent.required).toEqual(["chat_id", "event", "data"]);
    expect(asyncapi.info.description).toContain("`account_banned` 403");
  });

  it("documents every webhook event type: a POST of {type, timestamp, data} with the three Standard Webhooks headers", () => {
    expect(Object.keys(openapi.webhooks ?? {}).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    const headers = ["webhook-id", "webhook-signature", "webhook-timestamp"];
    for (const type of WEBHOOK_EVENT_TYPES) {
      const hook = openapi.webhooks[type];
      expect([type, Object.keys(hook)]).toEqual([type, ["post"]]);
      const op = hook.post;
      expect([type, op.tags]).toEqual([type, ["webhooks"]]);
      const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean }[];
      expect([type, params.map((p) => `${p.in} ${p.name} ${p.required}`).sort()]).toEqual([type, headers.map((h) => `header ${h} true`)]);
      // How to verify, on every type.
      expect([type, op.description]).toEqual([type, expect.stringMatching(/webhook-signature[\s\S]*standardwebhooks[\s\S]*de-duplicate/)]);
      const body = op.requestBody.content["application/json"].schema;
      const schema = openapi.components.schemas[String(body.$ref).replace("#/components/schemas/", "")];
      expect([type, op.requestBody.required, schema.required, schema.properties.type.enum]).toEqual([type, true, ["type", "timestamp", "data"], [type]]);
      expect([type, schema.properties.data.type]).toEqual([type, "object"]);
      expect([type, Object.keys(op.responses).sort()]).toEqual([type, ["2XX", "default"]]);
    }
    // Once reserved ("not sent yet"), now sent: described like the others.
    for (const type of WEBHOOK_EVENT_TYPES) expect([type, openapi.webhooks[type].post.summary]).toEqual([type, expect.not.stringMatching(/not sent yet/)]);
    expect(openapi.webhooks["user.registered"].post.parameters.find((p: { name: string }) => p.name === "webhook-id").schema.pattern).toBe("^evt_\\d+$");
    expect(openapi.tags.map((t: { name: string }) => t.name)).toContain("webhooks");
  });

  it("/docs renders both documents from files the api serves itself", async () => {
    const page = await fetch(`${node.url}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(5);
    for (const asset of assets) expect([asset, (await fetch(node.url + asset)).status]).toEqual([asset, 200]);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it("gives the docs page's policy ('unsafe-eval') only to the docs page and its files, however the URL spells the path", async () => {
    const evalAllowed = (csp: string | undefined) => /'unsafe-eval'/.test(csp ?? "");
    for (const path of ["/docs", "/docs/", "/docs/vendor/swagger-ui-bundle.js", "/docs/docs.js"]) {
      const res = await rawGet(path);
      expect([path, res.status, evalAllowed(res.csp)]).toEqual([path, 200, true]);
    }
    const home = await rawGet("/");
    expect(home.csp).toMatch(/script-src 'self';/);
    expect(home.body).toContain('src="/demo.js"');
    // Paths that the static handler decodes and normalises into the demo page (index.html).
    for (const path of ["/docs%2f..%2findex.html", "/docs%2F..%2Findex.html", "/docs/..%2findex.html", "/docs/%2e%2e/index.html", "/docs/%2E%2E/index.html", "/docs/vendor/..%2f..%2findex.html"]) {
      const res = await rawGet(path);
      expect([path, res.status === 404 || !evalAllowed(res.csp)]).toEqual([path, true]);
      if (res.status === 200) expect(res.csp).toBe(home.csp);
    }
  });
});

describe("real webhook deliveries match the document", () => {
  it("every delivery's body matches its type's schema field for field, signed, with the documented headers", async () => {
    // A node of its own: the receiver is on loopback, which only WEBHOOK_ALLOW_PRIVATE=on lets an endpoint reach.
    const hooked = await startSingleNode({ env: { WEBHOOK_ALLOW_PRIVATE: "on" } });
    const receiver = await new WebhookReceiver().start();
    try {
      const api = httpClient(hooked.url);
      const key = (await createServerKey(hooked.database.db, "docs-webhooks", ["moderate"])).key;
      const made = await api.as(key).post("/server/v1/webhooks", { url: receiver.url });
      expect(made.status).toBe(201);
      receiver.secret = made.body.secret;
      const alice = await registerAndLogin(api, "dwa");
      const bob = await registerAndLogin(api, "dwb");
      const chatId = await chatWith(alice, [bob]);
      const posted = await alice.http.post(`/chats/${chatId}/messages`, { text: "hooked", client_id: randomUUID() });
      expect(posted.status).toBe(201);
      const messagePath = `/chats/${chatId}/messages/${posted.body.message.id}`;
      expect((await bob.http.post(`${messagePath}/report`, { reason: "docs" })).status).toBe(201);
      expect((await alice.http.request("PATCH", messagePath, { text: "hooked, edited" })).status).toBe(200);
      expect((await alice.http.delete(messagePath)).status).toBe(204);
      expect((await alice.http.delete(`/chats/${chatId}/members/${bob.user.id}`)).status).toBe(204);
      expect((await bob.http.post("/logout")).status).toBe(204);
      const sent = ["user.registered", "invite.created", "member.added", "message.created", "report.created", "message.updated", "message.deleted", "member.removed", "session.revoked"];
      await eventually(() => sent.every((t) => receiver.of(t).length > 0), 20_000, "a delivery of each type");

      const ajv = new Ajv2020({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addSchema({ ...openapi, $id: "openapi" });
      for (const r of receiver.received) {
        const op = openapi.webhooks[r.type]?.post;
        expect([r.type, op === undefined]).toEqual([r.type, false]);
        const validate = ajv.compile({ $ref: `openapi#/webhooks/${r.type}/post/requestBody/content/application~1json/schema` });
        expect([r.type, validate({ type: r.type, timestamp: r.timestamp, data: r.data }) ? "" : ajv.errorsText(validate.errors)]).toEqual([r.type, ""]);
        // Nothing sent that the document does not name.
        const schema = openapi.components.schemas[String(op.requestBody.content["application/json"].schema.$ref).replace("#/components/schemas/", "")];
        expect([r.type, Object.keys(r.data).sort()]).toEqual([r.type, Object.keys(schema.properties.data.properties).sort()]);
        for (const p of op.parameters as { name: string; schema: { pattern?: string } }[]) {
          expect([r.type, p.name, new RegExp(p.schema.pattern ?? ".").test(String(r.headers[p.name]))]).toEqual([r.type, p.name, true]);
        }
        expect([r.type, r.verified]).toEqual([r.type, true]);
      }
    } finally {
      await hooked.close();
      await receiver.stop();
    }
  }, 60_000);
});

/** A GET of `path` exactly as written: fetch's URL parser would resolve `%2e%2e` before sending. */
function rawGet(path: string): Promise<{ status: number; csp: string | undefined; body: string }> {
  const { hostname, port } = new URL(node.url);
  return new Promise((resolve, reject) => {
    get({ hostname, port, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, csp: res.headers["content-security-policy"]?.toString(), body }));
    }).on("error", reject);
  });
}

describe("real answers match the documents", () => {
  it("every HTTP call's answers, success and error alike", async () => {
    const alice = await account();
    const bob = await account();
    const carol = await account();
    const weak = await call("POST", "/register", { body: { ...newCredentials("doc"), password: "password1" } });
    expect(weak.body).toMatchObject({ code: "weak_password", feedback: { score: expect.any(Number) } });
    expect((await call("POST", "/register", { body: { ...newCredentials("doc"), username: alice.username } })).body.code).toBe("username_taken");
    expect((await call("POST", "/register", { body: { username: "x" } })).body.errors.length).toBeGreaterThan(0);
    expect((await call("POST", "/login", { body: { username: alice.username, password: "wrong-password" } })).status).toBe(401);
    expect((await call("POST", "/login", { raw: { type: "text/plain", data: "hi" } })).status).toBe(415);
    expect((await call("POST", "/login", { raw: { type: "application/json", data: JSON.stringify({ username: "a".repeat(20_000), password: "x" }) } })).status).toBe(413);
    expect((await call("GET", "/me")).status).toBe(401);
    expect((await call("GET", "/me", { token: alice.token })).body.user.id).toBe(alice.id);

    const chat = (await call("POST", "/chats", { token: alice.token, body: { name: "docs", members: [bob.username] } })).body.chat;
    const p = { id: chat.id };
    expect((await call("GET", "/chats", { token: alice.token })).body.chats).toHaveLength(1);
    expect((await call("GET", "/chats/{id}", { token: carol.token, params: p })).status).toBe(404);
    const bobInvite = (await call("GET", "/invites", { token: bob.token })).body.invites[0];
    expect((await call("POST", "/invites/{id}/accept", { token: bob.token, params: { id: bobInvite.id } })).status).toBe(200);
    expect((await call("GET", "/chats/{id}", { token: alice.token, params: p })).body.members).toHaveLength(2);
    expect((await call("POST", "/chats/{id}/invites", { token: alice.token, params: p, body: { username: bob.username } })).status).toBe(409);
    const invite = (await call("POST", "/chats/{id}/invites", { token: alice.token, params: p, body: { username: carol.username } })).body.invite;
    expect((await call("GET", "/chats/{id}/invites", { token: bob.token, params: p })).body).toEqual({ invites: [expect.objectContaining({ id: invite.id })], has_more: false });
    expect((await call("GET", "/chats/{id}/invites?limit=0", { token: bob.token, params: p })).status).toBe(400);
    expect((await call("GET", "/invites?limit=1", { token: carol.token })).body).toEqual({ invites: [expect.objectContaining({ id: invite.id })], has_more: false });
    expect((await call("GET", "/invites?after=nope", { token: carol.token })).body.errors[0].field).toBe("after");
    expect((await call("DELETE", "/invites/{id}", { token: alice.token, params: { id: invite.id } })).status).toBe(204);
    const again = (await call("POST", "/chats/{id}/invites", { token: bob.token, params: p, body: { username: carol.username } })).body.invite;
    expect((await call("POST", "/invites/{id}/decline", { token: carol.token, params: { id: again.id } })).status).toBe(204);
    // After a decline, its inviter waits before inviting the same user to the same chat again.
    expect((await call("POST", "/chats/{id}/invites", { token: bob.token, params: p, body: { username: carol.username } })).body.code).toBe("rate_limited");

    const posted = (await call("POST", "/chats/{id}/messages", { token: alice.token, params: p, body: { text: "hello", client_id: randomUUID() } })).body.message;
    expect((await call("GET", "/chats/{id}/messages", { token: bob.token, params: p })).body.messages[0].id).toBe(posted.id);
    expect((await call("GET", "/chats/{id}/messages?limit=500", { token: bob.token, params: p })).status).toBe(400);
    // Outside the published id format: "0", a leading zero, past the bigint range.
    for (const after of ["0", "01", "9223372036854775808"]) expect([after, (await call("GET", `/chats/{id}/messages?after=${after}`, { token: bob.token, params: p })).status]).toEqual([after, 400]);
    expect((await call("GET", "/chats/{id}/presence", { token: bob.token, params: p })).body).toMatchObject({ chat_id: chat.id, count: 0 });
    // Read positions, edits, reactions, reports, tombstones.
    expect((await call("PUT", "/chats/{id}/read", { token: bob.token, params: p, body: { message_id: posted.id } })).body).toEqual({ chat_id: chat.id, message_id: posted.id });
    expect((await call("GET", "/chats", { token: bob.token })).body.chats).toEqual([expect.objectContaining({ id: chat.id, unread_count: 0, read_message_id: posted.id, last_message: posted })]);
    const m = { id: chat.id, message_id: posted.id };
    const edited = (await call("PATCH", "/chats/{id}/messages/{message_id}", { token: alice.token, params: m, body: { text: "hello, edited" } })).body.message;
    expect(edited).toEqual({ ...posted, text: "hello, edited", edited_at: expect.any(String) });
    expect((await call("PATCH", "/chats/{id}/messages/{message_id}", { token: bob.token, params: m, body: { text: "not mine" } })).body.code).toBe("forbidden");
    expect((await call("PATCH", "/chats/{id}/messages/{message_id}", { token: carol.token, params: m, body: { text: "outsider" } })).status).toBe(404);
    expect((await call("POST", "/chats/{id}/messages/{message_id}/reactions", { token: bob.token, params: m, body: { emoji: "👍" } })).body).toEqual({ chat_id: chat.id, message_id: posted.id, reactions: [{ emoji: "👍", count: 1, me: true }] });
    const report = await call("POST", "/chats/{id}/messages/{message_id}/report", { token: bob.token, params: m, body: { reason: "docs" } });
    expect([report.status, report.body.report]).toEqual([201, expect.objectContaining({ message_id: posted.id, text: "hello, edited", reason: "docs", status: "open" })]);
    const reportedAgain = await call("POST", "/chats/{id}/messages/{message_id}/report", { token: bob.token, params: m, body: { reason: "again" } });
    expect([reportedAgain.status, reportedAgain.body.report.id]).toEqual([200, report.body.report.id]);
    expect((await call("GET", "/chats/{id}/reports", { token: bob.token, params: p })).body.code).toBe("forbidden");
    expect((await call("GET", "/chats/{id}/reports", { token: alice.token, params: p })).body.reports.map((r: { id: string }) => r.id)).toEqual([report.body.report.id]);
    const resolved = await call("POST", "/chats/{id}/reports/{report_id}/resolve", { token: alice.token, params: { id: chat.id, report_id: report.body.report.id }, body: { resolution: "seen" } });
    expect(resolved.body.report).toMatchObject({ id: report.body.report.id, status: "resolved", resolution: "seen", resolved_at: expect.any(String) });
    expect((await call("DELETE", "/chats/{id}/messages/{message_id}", { token: bob.token, params: m })).body.code).toBe("forbidden");
    expect((await call("DELETE", "/chats/{id}/messages/{message_id}", { token: alice.token, params: m })).status).toBe(204);
    expect((await call("GET", "/chats/{id}/messages", { token: bob.token, params: p })).body.messages[0]).toEqual({ ...edited, text: "", deleted: true, reactions: [] });
    // Blocks.
    const blocked = await call("PUT", "/me/blocks/{user_id}", { token: bob.token, params: { user_id: carol.id } });
    expect([blocked.status, blocked.body.block.user]).toEqual([200, { id: carol.id, username: carol.username }]);
    expect((await call("PUT", "/me/blocks/{user_id}", { token: bob.token, params: { user_id: randomUUID() } })).status).toBe(404);
    expect((await call("GET", "/me/blocks", { token: bob.token })).body.blocks).toEqual([blocked.body.block]);
    expect((await call("DELETE", "/me/blocks/{user_id}", { token: bob.token, params: { user_id: carol.id } })).status).toBe(204);
    expect((await call("GET", "/me/blocks", { token: bob.token })).body.blocks).toEqual([]);
    expect((await call("DELETE", "/chats/{id}/members/{user_id}", { token: bob.token, params: { id: chat.id, user_id: bob.id } })).status).toBe(204);
    expect((await call("DELETE", "/chats/{id}/members/{user_id}", { token: bob.token, params: { id: chat.id, user_id: alice.id } })).status).toBe(404);

    const second = await call("POST", "/login", { body: { username: alice.username, password: alice.password } });
    const sessions = (await call("GET", "/sessions", { token: alice.token })).body.sessions;
    expect(sessions).toHaveLength(2);
    expect((await call("DELETE", "/sessions/{id}", { token: alice.token, params: { id: second.body.session_id } })).status).toBe(204);
    expect((await call("DELETE", "/sessions/{id}", { token: alice.token, params: { id: randomUUID() } })).status).toBe(404);
    const refreshed = await call("POST", "/token/refresh", { body: { refresh_token: alice.refresh } });
    expect(refreshed.status).toBe(200);
    expect((await call("POST", "/token/refresh", { body: { refresh_token: alice.refresh } })).body.code).toBe("session_revoked");
    expect((await call("PUT", "/me/password", { token: carol.token, body: { current_password: "wrong", new_password: "An0ther-Long-Passphrase!" } })).status).toBe(401);
    expect((await call("PUT", "/me/password", { token: carol.token, body: { current_password: carol.password, new_password: "An0ther-Long-Passphrase!" } })).status).toBe(204);
    expect((await call("POST", "/logout", { token: bob.token })).status).toBe(204);
    expect((await call("DELETE", "/sessions", { token: carol.token })).status).toBe(204);
    expect((await call("GET", "/.well-known/jwks.json")).body.keys).toHaveLength(1);
    expect((await call("GET", "/healthz")).status).toBe(200);
    expect((await call("GET", "/readyz")).status).toBe(200);
  });

  it("every server API call's answers, success and error alike", async () => {
    const key = await serverKey(["publish", "moderate", "read"]);
    const publisher = await serverKey(["publish"]);
    const alice = await account();
    const s = (path: string) => `/server/v1${path}`;
    expect((await call("GET", s("/stats"))).body.code).toBe("unauthorized");
    expect((await call("GET", s("/stats"), { token: alice.token })).body.code).toBe("unauthorized");
    expect((await call("GET", s("/stats"), { token: publisher })).body.code).toBe("forbidden");
    expect((await call("GET", s("/stats"), { token: key })).body.gateways).toEqual(expect.any(Array));

    // A user the app manages: no password, and no email unless given.
    const external = { external_id: `app|${randomUUID()}` };
    const botName = newCredentials("bot").username;
    const made = await call("PUT", s("/users/{external_id}"), { token: key, params: external, body: { username: botName } });
    expect([made.status, made.body.user]).toEqual([201, expect.objectContaining({ username: botName, email: null, external_id: external.external_id, banned: false })]);
    expect((await call("PUT", s("/users/{external_id}"), { token: key, params: external, body: { username: botName } })).status).toBe(200);
    expect((await call("PUT", s("/users/{external_id}"), { token: key, params: { external_id: "no!such" }, body: { username: botName } })).body.errors[0].field).toBe("external_id");
    expect((await call("PUT", s("/users/{external_id}"), { token: key, params: { external_id: randomUUID() }, body: { username: alice.username } })).body.code).toBe("username_taken");
    const bot = made.body.user.id as string;

    const chat = await call("POST", s("/chats"), { token: key, body: { name: "backend", members: [alice.id] } });
    expect([chat.status, chat.body.members.length]).toEqual([201, 1]);
    const p = { id: chat.body.chat.id as string };
    expect((await call("PUT", s("/chats/{id}/members/{user_id}"), { token: key, params: { ...p, user_id: bot } })).status).toBe(201);
    expect((await call("PUT", s("/chats/{id}/members/{user_id}"), { token: key, params: { ...p, user_id: bot } })).body.code).toBe("already_member");

    const message = { text: "from the backend", sender: bot, idempotency_key: "docs-1" };
    const first = await call("POST", s("/chats/{id}/messages"), { token: key, params: p, body: message });
    expect([first.status, first.body.message.sender.id, first.headers.get("idempotent-replayed")]).toEqual([201, bot, null]);
    const replay = await call("POST", s("/chats/{id}/messages"), { token: key, params: p, body: message });
    expect([replay.body.message.id, replay.headers.get("idempotent-replayed")]).toEqual([first.body.message.id, "true"]);
    expect((await call("POST", s("/chats/{id}/messages"), { token: key, params: p, body: { ...message, text: "other" } })).body.code).toBe("idempotency_conflict");
    expect((await call("POST", s("/chats/{id}/messages"), { token: key, params: { id: randomUUID() }, body: { text: "x" } })).status).toBe(404);
    expect((await call("POST", s("/chats/{id}/messages"), { token: key, params: p, raw: { type: "text/plain", data: "hi" } })).status).toBe(415);
    expect((await call("POST", s("/chats/{id}/messages"), { token: key, params: p, raw: { type: "application/json", data: JSON.stringify({ text: "x".repeat(300 * 1024) }) } })).status).toBe(413);
    expect((await call("POST", s("/chats/{id}/events"), { token: key, params: p, body: { event: "score", data: { home: 1 } } })).status).toBe(204);
    expect((await call("POST", s("/chats/{id}/events"), { token: key, params: p, body: { event: "big", data: "x".repeat(17 * 1024) } })).body.code).toBe("payload_too_large");

    // Reports: a member reports a message; the backend lists and resolves them, deleting the message.
    const report = (await call("POST", "/chats/{id}/messages/{message_id}/report", { token: alice.token, params: { ...p, message_id: first.body.message.id }, body: { reason: "docs" } })).body.report;
    expect(report).toMatchObject({ chat_id: p.id, message_id: first.body.message.id, sender: { id: bot }, reporter: { id: alice.id }, status: "open" });
    expect((await call("GET", s("/reports"), { token: key })).body.reports.map((r: { id: string }) => r.id)).toContain(report.id);
    expect((await call("GET", s("/reports"), { token: publisher })).body.code).toBe("forbidden");
    expect((await call("GET", s("/reports") + "?status=lost", { token: key })).status).toBe(400);
    const resolved = await call("POST", s("/reports/{id}/resolve"), { token: key, params: { id: report.id }, body: { resolution: "removed", delete_message: true } });
    expect(resolved.body.report).toMatchObject({ id: report.id, status: "resolved", resolution: "removed" });
    expect((await call("GET", s("/reports") + "?status=resolved", { token: key })).body.reports.map((r: { id: string }) => r.id)).toContain(report.id);
    expect((await call("POST", s("/reports/{id}/resolve"), { token: key, params: { id: randomUUID() }, body: {} })).status).toBe(404);
    expect((await call("GET", "/chats/{id}/messages", { token: alice.token, params: p })).body.messages.find((x: { id: string }) => x.id === first.body.message.id)).toMatchObject({ deleted: true, text: "" });

    expect((await call("GET", s("/chats/{id}/presence"), { token: key, params: p })).body).toMatchObject({ chat_id: p.id, count: 0 });
    expect((await call("GET", s("/users/{id}/presence"), { token: key, params: { id: bot } })).body).toMatchObject({ user_id: bot, online: false, sockets: 0 });
    // A session for the app's user, answered like /login; the body may be left out.
    const session = await call("POST", s("/users/{id}/sessions"), { token: key, params: { id: bot } });
    expect([session.status, session.body.user.email]).toEqual([200, null]);

    // A ban: every session ends; login, refresh and new sessions answer account_banned until it is lifted.
    const banned = await call("PUT", s("/users/{id}/ban"), { token: key, params: { id: alice.id }, body: { reason: "docs" } });
    expect(banned.body.user).toMatchObject({ id: alice.id, banned: true });
    expect((await call("POST", "/login", { body: { username: alice.username, password: alice.password } })).body.code).toBe("account_banned");
    expect((await call("POST", "/token/refresh", { body: { refresh_token: alice.refresh } })).body.code).toBe("account_banned");
    expect((await call("POST", s("/users/{id}/sessions"), { token: key, params: { id: alice.id }, body: {} })).body.code).toBe("account_banned");
    expect((await call("DELETE", s("/users/{id}/ban"), { token: key, params: { id: alice.id } })).body.user.banned).toBe(false);
    expect((await call("POST", "/login", { body: { username: alice.username, password: alice.password } })).status).toBe(200);

    expect((await call("POST", s("/users/{id}/disconnect"), { token: key, params: { id: alice.id } })).status).toBe(204);
    expect((await call("POST", s("/users/{id}/disconnect"), { token: key, params: { id: randomUUID() } })).status).toBe(404);
    expect((await call("DELETE", s("/chats/{id}/members/{user_id}"), { token: key, params: { ...p, user_id: bot } })).status).toBe(204);

    // Webhook endpoints: the secret once, a log of deliveries, a redelivery, a deletion.
    const hook = await call("POST", s("/webhooks"), { token: key, body: { url: "https://example.com/hooks", events: ["user.registered"] } });
    expect([hook.status, hook.body.secret]).toEqual([201, expect.stringMatching(/^whsec_/)]);
    expect((await call("POST", s("/webhooks"), { token: key, body: { url: "http://127.0.0.1/hooks" } })).body.errors[0].field).toBe("url");
    expect((await call("GET", s("/webhooks"), { token: key })).body.endpoints.map((e: { id: string }) => e.id)).toContain(hook.body.endpoint.id);
    const h = { id: hook.body.endpoint.id as string };
    await account(); // user.registered: one delivery
    const log = await call("GET", s("/webhooks/{id}/deliveries") + "?limit=5", { token: key, params: h });
    expect(log.body.deliveries).toEqual([expect.objectContaining({ type: "user.registered", webhook_id: expect.stringMatching(/^evt_\d+$/) })]);
    expect((await call("GET", s("/webhooks/{id}/deliveries") + "?status=lost", { token: key, params: h })).status).toBe(400);
    const again = await call("POST", s("/webhooks/{id}/deliveries/{delivery_id}/redeliver"), { token: key, params: { ...h, delivery_id: log.body.deliveries[0].id } });
    expect([again.status, again.body.delivery.status]).toEqual([200, "pending"]);
    expect((await call("POST", s("/webhooks/{id}/deliveries/{delivery_id}/redeliver"), { token: key, params: { ...h, delivery_id: "999999" } })).status).toBe(404);
    expect((await call("DELETE", s("/webhooks/{id}"), { token: key, params: h })).status).toBe(204);
    expect((await call("DELETE", s("/webhooks/{id}"), { token: key, params: h })).status).toBe(404);

    // A batch answers each call in its place, with that call's own scope check.
    const calls = [
      { method: "GET", path: "/stats" },
      { method: "GET", path: `/server/v1/chats/${p.id}/presence` },
      { method: "GET", path: "/nowhere" },
    ];
    const statuses = async (token: string) => ((await call("POST", s("/batch"), { token, body: { calls } })).body.results as { status: number }[]).map((r) => r.status);
    expect(await statuses(key)).toEqual([200, 200, 404]);
    expect(await statuses(publisher)).toEqual([403, 403, 404]);
    expect((await call("POST", s("/batch"), { token: key, body: { calls: [] } })).status).toBe(400);
  });

  it("answered every documented operation successfully at least once", () => {
    const operations = Object.entries(openapi.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`));
    const succeeded = [...docs.checked].filter((c) => / 2\d\d$/.test(c)).map((c) => c.replace(/ \d+$/, ""));
    expect(operations.filter((o) => !succeeded.includes(o))).toEqual([]);
  });

  it("socket acknowledgements, server events and handshake refusals", async () => {
    const alice = await account();
    const bob = await account();
    const chat = (await call("POST", "/chats", { token: alice.token, body: { name: "live", members: [bob.username] } })).body.chat;
    const invite = (await call("GET", "/invites", { token: bob.token })).body.invites[0];
    await call("POST", "/invites/{id}/accept", { token: bob.token, params: { id: invite.id } });

    const ask = async (socket: ClientSocket, event: string, payload: unknown) => {
      const answer = (await askNamed(socket, event, payload)) as { ok: boolean; count?: number; missed?: unknown[]; changes?: { type: string }[]; cursor?: string; error?: { code: string } };
      docs.socketMessage(`${event.replace(/[:-](\w)/g, (_: string, c: string) => c.toUpperCase())}Ack`, answer, `${event} answer${answer.ok ? "" : " (error)"}`);
      return answer;
    };
    const event = async <T>(socket: ClientSocket, name: string, trigger: () => Promise<unknown>): Promise<T> => {
      const seen = nextEventNamed(socket, name);
      await trigger();
      const payload = await seen;
      docs.socketMessage(name.replace(/[:-](\w)/g, (_: string, c: string) => c.toUpperCase()), payload, name);
      return payload as T;
    };

    const a = await node.sockets.connect(node.url, { token: alice.token });
    const b = await node.sockets.connect(node.url, { token: bob.token });
    const joined = await ask(a, "chat:join", { chat_id: chat.id });
    expect(joined.ok).toBe(true);
    await event(a, "presence:join", () => ask(b, "chat:join", { chat_id: chat.id }));
    const hi = await event<{ id: string }>(b, "message:new", () => ask(a, "message:send", { chat_id: chat.id, text: "hi", client_id: "c1" }));
    const m = { chat_id: chat.id, message_id: hi.id };
    await event(b, "message:updated", () => ask(a, "message:edit", { ...m, text: "hi, edited" }));
    await event(b, "message:reactions", () => ask(a, "message:react", { ...m, emoji: "👍" }));
    await event(a, "message:read", () => ask(b, "chat:read", m));
    // A catch-up from the first join's cursor: the message, and the changes since as their live events.
    const caughtUp = await ask(a, "chat:join", { chat_id: chat.id, cursor: joined.cursor });
    expect(caughtUp.changes?.map((c) => c.type).sort()).toEqual(["message:reactions", "message:read", "message:updated"]);
    await event(b, "message:deleted", () => ask(a, "message:delete", m));
    expect((await ask(a, "chat:join", { chat_id: chat.id, cursor: caughtUp.cursor })).changes?.map((c) => c.type)).toEqual(["message:deleted"]);
    await event(b, "typing", () => ask(a, "chat:typing", { chat_id: chat.id }));
    const publisher = await serverKey(["publish"]);
    const appEvent = await event<{ event: string }>(b, "app:event", () =>
      call("POST", "/server/v1/chats/{id}/events", { token: publisher, params: { id: chat.id }, body: { event: "score", data: { home: 2, away: 1 } } }),
    );
    expect(appEvent).toEqual({ chat_id: chat.id, event: "score", data: { home: 2, away: 1 } });
    const carol = await account();
    const c = await node.sockets.connect(node.url, { token: carol.token });
    const invited = await event<{ id: string }>(c, "invite:new", () => call("POST", "/chats/{id}/invites", { token: alice.token, params: { id: chat.id }, body: { username: carol.username } }));
    await event(c, "chat:added", () => call("POST", "/invites/{id}/accept", { token: carol.token, params: { id: invited.id } }));
    expect((await ask(a, "chat:presence", { chat_id: chat.id })).count).toBe(2);
    expect((await ask(a, "chat:join", { chat_id: chat.id, after: "1" })).missed?.length).toBeGreaterThan(0);
    expect((await ask(a, "chat:join", { chat_id: chat.id, after: "0" })).error?.code).toBe("invalid_payload");
    expect((await ask(a, "message:send", { chat_id: chat.id, text: "" })).ok).toBe(false);
    const fresh = await call("POST", "/token/refresh", { body: { refresh_token: alice.refresh } });
    expect((await ask(a, "auth:refresh", { token: fresh.body.token })).ok).toBe(true);
    expect((await ask(a, "chat:leave", { chat_id: chat.id })).ok).toBe(true);
    await event(b, "chat:removed", () => call("DELETE", "/chats/{id}/members/{user_id}", { token: alice.token, params: { id: chat.id, user_id: bob.id } }));
    await event(a, "session:ended", () => call("POST", "/logout", { token: fresh.body.token }));

    const refused = await node.sockets.refusal(node.url, { token: "not-a-jwt" });
    docs.socketComponent("ConnectError", refused.data);
    expect(refused.data?.code).toBe("invalid_token");
    await eventually(() => !a.connected);
  });
});

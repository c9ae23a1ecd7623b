import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATIONS } from "../../../api/server-api/operations";
import { SERVER_PREFIX } from "../../../api/server-api/server.routes";
import { SYSTEM_USER_ID } from "../../../api/server-api/server.service";
import { createServerKey } from "../../../api/server-api/server-keys";
import { ERROR_CODES } from "../../../shared/contract/errors";
import { SERVER_LIMITS, WEBHOOK_EVENT_TYPES } from "../../../shared/contract/server";
import { type InProcessCluster, startInProcessCluster } from "../../support/fixtures";

/**
 * Random requests against every server API call and the batch call: mangled paths and ids, odd
 * bodies, content types and query strings. Whatever comes in, the answer is no 5xx, every error is
 * problem+json with a code of ERROR_CODES, and the process still answers afterwards.
 * Reproduce a run with FUZZ_SEED=<the seed printed>; FUZZ_RUNS and FUZZ_SECONDS bound it.
 */
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 90);

/** mulberry32: a small seeded PRNG, so that a seed replays the same requests. */
function prng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  const str = (n: number, alphabet = "abcdefghijklmnopqrstuvwxyz0123456789") => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join("");
  return { next, int, pick, chance, str };
}
const rnd = prng(SEED);

const ERRORS = new Set<string>(ERROR_CODES);

/** Ids seen in answers, by kind, so that later requests reach real rows. */
const pools = {
  users: [SYSTEM_USER_ID] as string[],
  externals: [] as string[],
  chats: [] as string[],
  endpoints: [] as string[],
  deliveries: ["1"] as string[],
  usernames: [] as string[],
};
const remember = (list: string[], value: unknown) => {
  if (typeof value !== "string" || list.includes(value)) return;
  list.push(value);
  if (list.length > 60) list.splice(1, 1);
};

/** Every kind of JSON value, some of them hostile: huge, deep, NUL, lone surrogates, prototype keys. */
function randomValue(depth = 0): unknown {
  switch (rnd.int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rnd.chance(0.5);
    case 2:
      return rnd.pick([0, -1, 1, 1.5, -0, 1e308, -1e308, 2 ** 53 + 1, 59, 60, 86_400, 1e21, Number.MAX_SAFE_INTEGER]);
    case 3:
    case 4:
      return randomString();
    case 5:
      return Array.from({ length: rnd.int(4) }, () => randomValue(depth + 1));
    case 6:
      return Object.fromEntries(Array.from({ length: rnd.int(4) }, () => [rnd.pick(["a", "", "__proto__", "constructor", "toString", "text", "data", "é", "x".repeat(300)]), randomValue(depth + 1)]));
    default:
      return deep(rnd.pick([2, 50, 1000, 20_000]));
  }
}

function randomString(): string {
  return rnd.pick([
    "",
    " ",
    "a",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\udfff x",
    "😀".repeat(rnd.int(3000)),
    "x".repeat(rnd.pick([129, 513, 2049, 4001, 20_000, 200_000])),
    "<script>alert(1)</script>",
    "'; drop table users; --",
    "%00",
    "../../etc/passwd",
    "2026-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "0000-01-01T00:00:00Z",
    randomUUID(),
    randomUUID().toUpperCase(),
    "https://example.com/hook",
    "http://127.0.0.1/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest",
    "http://0x7f.1/",
    "https://user:pass@example.com/",
    "ftp://example.com/",
    "javascript:alert(1)",
    rnd.str(rnd.int(40)),
  ]);
}

/**
 * Arrays (or objects) nested `n` deep, as a placeholder that `toJson` writes out: JSON.stringify
 * itself overflows the stack at a few thousand levels.
 */
const deep = (n: number): string => `\u0001deep:${n}:${rnd.pick(["a", "o"])}\u0001`;
const toJson = (value: unknown): string =>
  (JSON.stringify(value) ?? "null").replace(/"\\u0001deep:(\d+):([ao])\\u0001"/g, (_m, n: string, kind: string) =>
    kind === "a" ? "[".repeat(Number(n)) + "]".repeat(Number(n)) : '{"a":'.repeat(Number(n)) + "1" + "}".repeat(Number(n)),
  );

const futureTime = () => new Date(Date.now() + (1 + rnd.int(1_000_000)) * 60_000).toISOString();

/** A body each call takes as valid (most of the time), before any mutation. */
function validBody(key: string): Record<string, unknown> | undefined {
  switch (key) {
    case "post /chats/{id}/messages":
      return {
        text: rnd.pick(["hello", "x".repeat(4000), "é😀"]),
        ...(rnd.chance(0.5) ? { sender: rnd.pick(pools.users) } : {}),
        ...(rnd.chance(0.6) ? { idempotency_key: `k${rnd.int(6)}` } : {}),
      };
    case "post /chats/{id}/events":
      return { event: rnd.pick(["score", "a.b:c-d_e", "x".repeat(64)]), ...(rnd.chance(0.8) ? { data: randomValue() } : {}) };
    case "put /users/{external_id}": {
      const username = rnd.chance(0.3) && pools.usernames.length > 0 ? rnd.pick(pools.usernames) : `fz_${rnd.str(10)}`;
      return { username, ...(rnd.chance(0.5) ? { email: `${rnd.chance(0.3) ? "same" : username}@example.test` } : {}) };
    }
    case "post /users/{id}/sessions":
      return { ...(rnd.chance(0.5) ? { user_agent: "fuzz" } : {}), ...(rnd.chance(0.5) ? { ttl: rnd.pick([60, 3600, 1e9]) } : {}) };
    case "put /users/{id}/ban":
      return { ...(rnd.chance(0.5) ? { until: futureTime() } : {}), ...(rnd.chance(0.5) ? { reason: "fuzz" } : {}) };
    case "post /chats":
      return {
        name: `fuzz ${rnd.str(5)}`,
        members: Array.from({ length: rnd.int(4) }, () => rnd.pick(pools.users)),
        ...(rnd.chance(0.3) ? { owner: rnd.pick(pools.users) } : {}),
      };
    case "post /webhooks":
      return {
        url: rnd.pick(["https://example.com/hooks", "http://example.org/h?x=1", "http://10.0.0.1/h", "http://hooks.internal/h"]),
        ...(rnd.chance(0.5) ? { events: Array.from({ length: rnd.int(3) }, () => rnd.pick(WEBHOOK_EVENT_TYPES)) } : {}),
        ...(rnd.chance(0.3) ? { description: "fuzz" } : {}),
      };
    default:
      return undefined;
  }
}

/** A valid body, or one with a field dropped, retyped, added or the whole replaced. */
function mutate(body: Record<string, unknown> | undefined): unknown {
  const roll = rnd.int(10);
  if (roll < 4) return body;
  if (roll === 4 || body === undefined) return randomValue();
  const copy: Record<string, unknown> = { ...body };
  const keys = Object.keys(copy);
  if (roll === 5 && keys.length > 0) delete copy[rnd.pick(keys)];
  else if (roll <= 7 && keys.length > 0) copy[rnd.pick(keys)] = randomValue();
  else if (roll === 8) copy[rnd.pick(["unknown", "__proto__", "extra", "EVENT"])] = randomValue();
  else copy[keys.length > 0 ? rnd.pick(keys) : "x"] = deep(rnd.pick([100, 5_000, 50_000]));
  return copy;
}

/** A value for a path parameter: a known id, a fresh one, or a mangled one. */
function paramValue(name: string, template: string): string {
  const pool = name === "delivery_id" ? pools.deliveries : name === "external_id" ? pools.externals : name === "user_id" || template.startsWith("/users") ? pools.users : template.startsWith("/webhooks") ? pools.endpoints : pools.chats;
  const known = pool.length > 0 ? rnd.pick(pool) : randomUUID();
  if (rnd.chance(0.6)) return name === "external_id" ? encodeURIComponent(known) : known;
  if (name === "external_id" && rnd.chance(0.5)) {
    const odd = rnd.pick(["crm-42", "auth0|5f3c", "a@b.c", "a:b", "...", "-", "|", "x".repeat(128), "x".repeat(129), "%C3%A9", "%00", "a%2Fb", "a b", "%7C", `fz.${rnd.str(8)}`]);
    return odd.replace(/ /g, "%20");
  }
  return rnd.pick([
    randomUUID(),
    known.toUpperCase(),
    known.slice(0, -1),
    `${known}0`,
    `${known}%20`,
    encodeURIComponent(`${known}/x`),
    "0",
    "-1",
    "1e5",
    "9223372036854775807",
    "99999999999999999999",
    "null",
    "undefined",
    "%",
    "%zz",
    "%E0%A4%A",
    "%ED%A0%80",
    "%00",
    "%2e%2e",
    "..",
    "x".repeat(rnd.pick([3, 600, 5000])),
    "%F0%9F%98%80",
    "{id}",
    ":id",
  ]);
}

const fill = (template: string) => template.replace(/\{(\w+)\}/g, (_m, name: string) => paramValue(name, template));

function randomQuery(): string {
  if (rnd.chance(0.6)) return "";
  const parts = Array.from({ length: 1 + rnd.int(3) }, () =>
    rnd.pick([
      `status=${rnd.pick(["pending", "delivered", "dead", "lost", "", "%", "DEAD"])}`,
      `limit=${rnd.pick(["1", "50", "100", "0", "101", "-1", "abc", "1e2", "1.5", "99999999999999999999", "", "%zz"])}`,
      "limit=1&limit=2",
      "status[]=dead",
      "status[a]=b",
      `${rnd.str(4)}=${rnd.str(4)}`,
      "a=%E0%A4%A",
      "%%%",
      "=",
      "&&",
    ]),
  );
  return `?${parts.join("&")}`;
}

/** Printable ASCII stays (a raw `%` too, for broken escapes); anything else is percent-encoded, as a client would send it. */
const wire = (path: string) => path.replace(/[^\x21-\x7e]|#/g, (c) => encodeURIComponent(c));

const TEMPLATES = [...OPERATIONS.map((o) => ({ method: o.method.toUpperCase(), path: o.path, key: `${o.method} ${o.path}` })), { method: "POST", path: "/batch", key: "post /batch" }];

/** A server API path: an operation's template filled in, then maybe bent. */
function randomPath(template: string): string {
  let path = fill(template);
  const roll = rnd.int(12);
  if (roll === 0) path += "/";
  else if (roll === 1) path = path.replace(/\/(?=[^/]*$)/, "//");
  else if (roll === 2) path += `/${rnd.pick(["x", "..", "%2F", "batch"])}`;
  else if (roll === 3) path = path.split("/").slice(0, -1).join("/") || "/";
  else if (roll === 4) path = path.toUpperCase();
  return path;
}

function randomBatchCall(): unknown {
  if (rnd.chance(0.05)) return randomValue();
  const t = rnd.pick(TEMPLATES);
  const path = rnd.chance(0.1) ? rnd.pick(["", "/", "//", "batch", "/batch", "/server/v1/batch", "http://x/y", "%", "?", "x".repeat(600)]) : randomPath(t.path) + randomQuery();
  const call: Record<string, unknown> = {
    method: rnd.chance(0.85) ? t.method : rnd.pick(["PATCH", "get", "HEAD", "", 1, null]),
    path: rnd.chance(0.5) ? SERVER_PREFIX + path : path,
  };
  const body = mutate(validBody(t.key));
  if (body !== undefined && rnd.chance(0.8)) call.body = body;
  if (rnd.chance(0.05)) call[rnd.pick(["headers", "id", "query"])] = randomValue();
  return call;
}

interface Sent {
  /** The call it aims at (`post /chats/{id}/messages`), for grouping failures. */
  label: string;
  /** A batch's calls before they were written out (deep values still placeholders), to cut a failing batch down. */
  calls?: unknown[];
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}
interface Answer {
  status: number;
  type: string;
  text: string;
}

/** A JSON body in some encoding: JSON, invalid JSON, another media type, oversized, chunked, compressed. */
function encode(sent: Sent, body: unknown): void {
  const roll = rnd.int(20);
  const json = (value: unknown) => Buffer.from(toJson(value));
  if (roll < 12) {
    if (body === undefined) return;
    sent.body = json(body);
    sent.headers["content-type"] = rnd.chance(0.9) ? "application/json" : rnd.pick(["application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"]);
  } else if (roll < 14) {
    sent.body = json(body ?? {});
    sent.headers["content-type"] = rnd.pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "application/json; charset=utf-16", "application/jsonx", "json", "*/*"]);
  } else if (roll < 16) {
    sent.body = Buffer.from(rnd.pick(["{", "}", '{"a":}', "[1,]", "nul", "'x'", "undefined", "NaN", '{"a":1}{}', "\ufeff{}", "\u0000", '"str"', "1", "true", "null", "{\"text\":\"\\ud800\"}", "{\"a\":\"\\u0000\"}"]));
    if (rnd.chance(0.2)) sent.body = Buffer.from([0xff, 0xfe, 0x7b, 0xc3, 0x28, 0x7d]);
    sent.headers["content-type"] = "application/json";
  } else if (roll === 16) {
    sent.body = json({ text: "x".repeat(SERVER_LIMITS.bodyBytes + rnd.int(150_000)) });
    sent.headers["content-type"] = "application/json";
  } else if (roll === 17) {
    sent.body = json(body ?? {});
    sent.headers["content-type"] = "application/json";
    sent.headers["content-encoding"] = rnd.pick(["gzip", "deflate", "br", "identity"]);
  } else if (roll === 18) {
    // No Content-Length: sent chunked.
    sent.body = json(body ?? {});
    sent.headers["content-type"] = "application/json";
    sent.headers["transfer-encoding"] = "chunked";
  } else {
    sent.body = Buffer.alloc(0);
    sent.headers["content-type"] = "application/json";
  }
}

let cluster: InProcessCluster;
let key: string;
let base: URL;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function send(s: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...s.headers };
    if (s.body !== undefined && headers["transfer-encoding"] === undefined) headers["content-length"] = s.body.length;
    const req = request({ host: base.hostname, port: base.port, method: s.method, path: s.path, headers, agent, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 15 s")));
    req.on("error", reject);
    // The server may answer (413, 415) before it read the body; a write after that is not a failure.
    req.end(s.body);
  });
}

const parse = (text: string): any => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** What is wrong with an answer: a 5xx, or an error that is not problem+json with a known code. */
function judge(s: Sent, a: Answer): string | undefined {
  if (a.status >= 500) return `status ${a.status}`;
  if (s.method === "HEAD") return undefined;
  if (a.status >= 400) {
    if (!a.type.startsWith("application/problem+json")) return `${a.status} answered as ${a.type || "no content type"}`;
    const problem = parse(a.text);
    if (!ERRORS.has(problem?.code)) return `${a.status} with code ${JSON.stringify(problem?.code)}`;
    if (problem.status !== a.status) return `${a.status} with a problem of status ${problem.status}`;
    return undefined;
  }
  if (s.path.split("?")[0]!.toLowerCase().endsWith("/batch") && a.status === 200) {
    const results = parse(a.text)?.results;
    if (!Array.isArray(results)) return "a batch answered without results";
    for (const [i, r] of results.entries()) {
      if (r.status >= 500) return `batch call ${i} answered ${r.status} (${r.body?.code})`;
      if (r.status >= 400 && !ERRORS.has(r.body?.code)) return `batch call ${i} answered ${r.status} with code ${JSON.stringify(r.body?.code)}`;
    }
  }
  return undefined;
}

/** Ids of the answer, kept for later requests. */
function harvest(text: string): void {
  const body = parse(text);
  if (!body || typeof body !== "object") return;
  const visit = (b: any) => {
    if (!b || typeof b !== "object") return;
    remember(pools.users, b.user?.id);
    remember(pools.usernames, b.user?.username);
    remember(pools.externals, b.user?.external_id);
    remember(pools.chats, b.chat?.id);
    remember(pools.endpoints, b.endpoint?.id);
    for (const d of Array.isArray(b.deliveries) ? b.deliveries : []) remember(pools.deliveries, d?.id);
    for (const r of Array.isArray(b.results) ? b.results : []) visit(r?.body);
  };
  visit(body);
}

/** One random request: which call, how its path, query, headers and body are bent. */
function randomRequest(): Sent {
  const t = rnd.pick(TEMPLATES);
  const method = rnd.chance(0.8) ? t.method : rnd.pick(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]);
  const prefix = rnd.chance(0.9) ? SERVER_PREFIX : rnd.pick(["/server/v1/", "/SERVER/V1", "/server/v2", "/server", "/server/v1/..", "/server/v1%2F", ""]);
  const sent: Sent = { label: t.key, method, path: wire(prefix + randomPath(t.path) + randomQuery()), headers: {} };
  const roll = rnd.int(40);
  sent.headers.authorization =
    roll === 0 ? `Bearer wsk_${rnd.str(43)}` : roll === 1 ? "Bearer" : roll === 2 ? `Basic ${Buffer.from("a:b").toString("base64")}` : roll === 3 ? `bearer   ${key}  ` : `Bearer ${key}`;
  if (roll === 4) delete sent.headers.authorization;
  let body: unknown;
  if (t.key === "post /batch") {
    const n = rnd.pick([1, 2, 3, 5, 8, 0, SERVER_LIMITS.batchCalls, SERVER_LIMITS.batchCalls + 1]);
    const calls = Array.from({ length: n }, randomBatchCall);
    if (rnd.chance(0.1)) body = mutate({ calls: [] });
    else {
      body = { calls, ...(rnd.chance(0.05) ? { extra: true } : {}) };
      sent.calls = calls;
    }
  } else {
    const valid = validBody(t.key);
    body = valid === undefined && rnd.chance(0.7) ? undefined : mutate(valid);
  }
  encode(sent, body);
  return sent;
}

/** A failing batch cut down to the first of its calls that fails alone, when one does: a shorter reproducer. */
async function smallestBatch(s: Sent, answer: Answer, wrong: string): Promise<[Sent, Answer, string]> {
  if (!s.calls || s.calls.length < 2) return [s, answer, wrong];
  for (const call of s.calls) {
    const one: Sent = { label: s.label, method: "POST", path: `${SERVER_PREFIX}/batch`, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: Buffer.from(toJson({ calls: [call] })) };
    const a = await send(one);
    const w = judge(one, a);
    if (w) return [one, a, w];
  }
  return [s, answer, wrong];
}

/** A request as a curl command line, to reproduce a failure by hand. */
function curl(s: Sent): string {
  const headers = Object.entries(s.headers).map(([k, v]) => ` -H '${k}: ${k === "authorization" ? v.replace(/wsk_\S+/, "wsk_…") : v}'`).join("");
  const body = s.body === undefined ? "" : s.body.length > 2000 ? ` --data-binary '<${s.body.length} bytes: ${s.body.subarray(0, 120).toString("utf8")}…>'` : ` --data-binary '${s.body.toString("utf8")}'`;
  return `curl -X ${s.method} 'http://HOST${s.path}'${headers}${body}`;
}

beforeAll(async () => {
  console.log(`server API fuzz: FUZZ_SEED=${SEED} (FUZZ_RUNS=${RUNS}, FUZZ_SECONDS=${SECONDS})`);
  cluster = await startInProcessCluster(1);
  base = new URL(cluster.api.url);
  key = (await createServerKey(cluster.database.db, "fuzz", ["publish", "moderate", "read"])).key;
  // A few real rows to aim at: users, a chat, an endpoint with a delivery.
  const json = (method: string, path: string, body?: unknown) =>
    send({ label: "setup", method, path: SERVER_PREFIX + path, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, ...(body === undefined ? {} : { body: Buffer.from(JSON.stringify(body)) }) });
  harvest((await json("POST", "/webhooks", { url: "https://example.com/fuzz" })).text);
  for (const name of ["one", "two", "three"]) harvest((await json("PUT", `/users/fuzz-${name}-${SEED}`, { username: `fz_${name}_${SEED}` })).text);
  harvest((await json("POST", "/chats", { name: "fuzz", members: pools.users.slice(1) })).text);
  harvest((await json("GET", `/webhooks/${pools.endpoints[0]}/deliveries`)).text);
}, 120_000);

afterAll(async () => {
  agent.destroy();
  await cluster?.close();
});

describe("the server API under random requests", () => {
  it("never answers 5xx, answers every error as problem+json with a known code, and keeps answering", async () => {
    const failures = new Map<string, string>();
    const aimed = new Set<string>();
    const deadline = Date.now() + SECONDS * 1000;
    let sent = 0;
    for (; sent < RUNS && Date.now() < deadline; sent += 1) {
      let s = randomRequest();
      aimed.add(s.label);
      let answer: Answer;
      try {
        answer = await send(s);
      } catch (err) {
        failures.set(`transport ${s.method} ${s.label}`, `#${sent} ${(err as Error).message}: ${curl(s)}`);
        continue;
      }
      let wrong = judge(s, answer);
      if (wrong && s.label === "post /batch") [s, answer, wrong] = await smallestBatch(s, answer, wrong);
      // One reproducer per kind of failure and call.
      if (wrong) failures.set(`${wrong.replace(/\d+/g, "N")} ${s.method} ${s.label}`, `#${sent} ${wrong}: ${curl(s)} → ${answer.text.slice(0, 300)}`);
      else if (answer.status < 300) harvest(answer.text);
    }
    console.log(`server API fuzz: ${sent} requests (FUZZ_SEED=${SEED}), ${failures.size} kinds of failure; ids seen: ${Object.entries(pools).map(([k, v]) => `${k} ${v.length}`).join(", ")}`);
    // Still alive, and still serving the server API.
    expect((await fetch(`${cluster.api.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${cluster.api.url}${SERVER_PREFIX}/stats`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect(sent).toBeGreaterThanOrEqual(Math.min(RUNS, 200));
    // Every call of OPERATIONS, and the batch call, was aimed at.
    if (sent >= 500) expect(TEMPLATES.map((t) => t.key).filter((k) => !aimed.has(k))).toEqual([]);
    expect([...failures.values()], `FUZZ_SEED=${SEED}`).toEqual([]);
  }, (SECONDS + 60) * 1000);
});

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ROOT } from "../support/build";
import { freePort } from "../support/redis-server";
import { eventually } from "../support/waits";

// nginx at the edge, on its own: the pm2 configuration rendered by nginx/render.js, real nginx in
// the foreground, and tiny node upstreams standing in for the api and a gateway. Requests go over
// raw TCP, so URIs reach nginx exactly as spelled (fetch would resolve /./ and /../ itself).

const { renderNginxConfig } = require(join(ROOT, "nginx/render.js")) as {
  renderNginxConfig(o: { runDir: string; listen?: string; gatewayPorts: number[]; apiPorts: number[] }): string;
};
const NGINX = [process.env.NGINX_BIN, "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].find((p) => p && existsSync(p)) ?? "nginx";
const HOST = "127.0.0.1";
const PROBLEM_KEYS = ["code", "detail", "status", "title", "type"];

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `request` as is on a fresh connection; resolves with the first complete response (or what came before a close), bounded. */
function raw(port: number, request: string | Buffer, timeoutMs = 8_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) return reject(err);
      try {
        resolve(parse(buf));
      } catch (e) {
        reject(e as Error);
      }
    };
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms to ${String(request).slice(0, 80)}`)), timeoutMs);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (complete(buf)) finish();
    });
    // nginx may reset after a refused body it did not read: what arrived before counts.
    socket.on("error", () => undefined);
    socket.on("close", () => finish());
    socket.write(request);
  });
}

/** True once `buf` holds a whole response: headers and a Content-Length body, or a chunked body's last chunk. */
function complete(buf: Buffer): boolean {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const head = buf.subarray(0, end).toString("latin1");
  if (/^HTTP\/1\.1 101 /.test(head)) return true;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) return buf.length - end - 4 >= Number(length[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return buf.subarray(end + 4).includes("\r\n0\r\n\r\n") || buf.subarray(end + 4).indexOf("0\r\n\r\n") === 0;
  return false;
}

function parse(buf: Buffer): RawResponse {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no HTTP response: ${JSON.stringify(buf.toString("latin1").slice(0, 200))}`);
  const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let rest = buf.subarray(end + 4);
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const parts: Buffer[] = [];
    for (let n = 0; n < 10_000; n++) {
      const eol = rest.indexOf("\r\n");
      const size = parseInt(rest.subarray(0, eol).toString("latin1"), 16);
      if (!size) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    rest = Buffer.concat(parts);
  } else if (headers["content-length"] !== undefined) {
    rest = rest.subarray(0, Number(headers["content-length"]));
  }
  return { status, headers, body: rest.toString("utf8") };
}

const get = (port: number, path: string, headers = "") => raw(port, `GET ${path} HTTP/1.1\r\nHost: edge.test\r\n${headers}Connection: close\r\n\r\n`);

function expectProblem(res: RawResponse, status: number, code: string): Record<string, unknown> {
  expect({ status: res.status, type: res.headers["content-type"] }, res.body).toEqual({ status, type: "application/problem+json" });
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
  expect(body).toMatchObject({ type: "about:blank", status, code });
  expect(typeof body.title === "string" && typeof body.detail === "string" && body.detail.length > 0).toBe(true);
  return body;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: HOST, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => resolve((server.address() as { port: number }).port));
  });
}

function stopServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The api as far as nginx can tell: /metrics like express (any case, optional trailing slash), a problem 503 of its own, one that hangs. */
const API_PROBLEM_503 = JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, code: "unavailable", detail: "From the api itself", checks: { database: "down" } });
const apiSeen: string[] = [];
const hanging: ServerResponse[] = [];
function apiHandler(req: IncomingMessage, res: ServerResponse): void {
  apiSeen.push(req.url!);
  const path = req.url!.split("?")[0]!;
  const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  if (/^\/metrics\/?$/i.test(path)) return send(200, "text/plain", "secret-metrics");
  if (path === "/hang") return void hanging.push(res);
  if (path === "/own-503") return send(503, "application/problem+json", API_PROBLEM_503, { "retry-after": "7" });
  if (path === "/own-404") return send(404, "application/problem+json", '{"code":"not_found","detail":"api"}');
  if (path === "/own-502") return send(502, "text/plain", "api says 502");
  if (path === "/own-500") return send(500, "text/plain", "api says 500");
  let bytes = 0;
  req.on("data", (d: Buffer) => (bytes += d.length));
  req.on("end", () => send(200, "application/json", JSON.stringify({ upstream: "api", method: req.method, url: req.url, bytes })));
}

/** A gateway: answers long-polling, and accepts a WebSocket-style upgrade whose bytes it echoes. */
const gatewaySeen: string[] = [];
function gatewayHandler(req: IncomingMessage, res: ServerResponse): void {
  gatewaySeen.push(req.url!);
  const body = JSON.stringify({ upstream: "gateway", url: req.url });
  res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

let runDir: string;
let nginx: ChildProcess | undefined;
let nginxLog = "";
let port: number;
let api: Server;
let gateway: Server;

beforeAll(async () => {
  api = createServer(apiHandler);
  gateway = createServer(gatewayHandler);
  gateway.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    gatewaySeen.push(req.url!);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    socket.pipe(socket);
  });
  const apiPort = await listen(api);
  const gatewayPort = await listen(gateway);
  port = await freePort();

  runDir = mkdtempSync(join(tmpdir(), "wsac-nginx-edge-"));
  chmodSync(runDir, 0o755); // run as root, the workers are `nobody`
  const conf = renderNginxConfig({ runDir, listen: `${HOST}:${port}`, gatewayPorts: [gatewayPort], apiPorts: [apiPort] });
  // The api's proxy_read_timeout is 30 s; the timeout case needs a short one, in this copy only.
  const locations = join(runDir, "locations.conf");
  const text = readFileSync(locations, "utf8");
  expect(text.match(/proxy_read_timeout 30s;/g)).toHaveLength(1);
  writeFileSync(locations, text.replace("proxy_read_timeout 30s;", "proxy_read_timeout 1s;"));
  // One worker is enough here and keeps the stop quick.
  writeFileSync(conf, readFileSync(conf, "utf8").replace("worker_processes auto;", "worker_processes 1;"));

  execFileSync(NGINX, ["-t", "-q", "-p", runDir, "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  // In the foreground, as ecosystem.config.js runs it; its own process group, so a stuck stop can end the workers too.
  nginx = spawn(NGINX, ["-p", runDir, "-c", conf, "-g", "daemon off;"], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  nginx.stderr!.on("data", (d: Buffer) => (nginxLog += d.toString()));
  await eventually(async () => nginx!.exitCode === null && (await listening(port)), 10_000, `nginx on ${port}`).catch((err: Error) => {
    throw new Error(`${err.message}: ${nginxLog}`);
  });
}, 30_000);

afterAll(async () => {
  for (const res of hanging) res.destroy();
  if (nginx && nginx.exitCode === null && nginx.pid) {
    const exited = new Promise<void>((resolve) => nginx!.once("exit", () => resolve()));
    nginx.kill("SIGTERM"); // nginx's fast shutdown
    const timer = setTimeout(() => {
      try {
        process.kill(-nginx!.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
  }
  await Promise.all([api, gateway].filter(Boolean).map(stopServer));
  if (runDir) rmSync(runDir, { recursive: true, force: true });
}, 20_000);

describe("nginx at the edge (pm2 configuration)", () => {
  it("proxies the api and the gateways as before", async () => {
    const login = await raw(port, `POST /login HTTP/1.1\r\nHost: edge.test\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{"a":"small"}`);
    expect(login.status).toBe(200);
    expect(JSON.parse(login.body)).toEqual({ upstream: "api", method: "POST", url: "/login", bytes: 13 });
    // A body of exactly 16 KiB is still allowed.
    const full = "x".repeat(16 * 1024);
    const atLimit = await raw(port, `POST /login HTTP/1.1\r\nHost: edge.test\r\nContent-Length: ${full.length}\r\nConnection: close\r\n\r\n${full}`);
    expect(JSON.parse(atLimit.body)).toMatchObject({ upstream: "api", bytes: 16 * 1024 });
    // Paths that merely contain "metrics" are the api's.
    expect(JSON.parse((await get(port, "/chats/metrics")).body)).toMatchObject({ upstream: "api", url: "/chats/metrics" });
    const polling = await get(port, "/ws/?EIO=4&transport=polling");
    expect(polling.status).toBe(200);
    expect(JSON.parse(polling.body)).toEqual({ upstream: "gateway", url: "/ws/?EIO=4&transport=polling" });
  });

  it("upgrades /ws/ to a WebSocket through to the gateway", async () => {
    const socket = createConnection({ host: HOST, port });
    let received = "";
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no upgrade and echo: ${JSON.stringify(received)}`)), 5_000);
      socket.on("data", (d) => {
        received += d.toString("latin1");
        if (received.includes("\r\n\r\n") && received.endsWith("ping")) {
          clearTimeout(timer);
          resolve();
        } else if (received.includes("\r\n\r\n") && !received.includes("ping")) socket.write("ping");
      });
      socket.on("error", reject);
    });
    socket.write("GET /ws/?EIO=4&transport=websocket HTTP/1.1\r\nHost: edge.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    try {
      await done;
    } finally {
      socket.destroy();
    }
    expect(received).toMatch(/^HTTP\/1\.1 101 /);
    expect(received.toLowerCase()).toContain("upgrade: websocket");
  });

  it("answers 404 problem+json to /metrics in every spelling, and never forwards one", async () => {
    const spellings = [
      "/metrics",
      "/metrics/",
      "/METRICS",
      "/Metrics?x=1",
      "/metrics?token=abc",
      "//metrics",
      "///metrics//",
      "/%6detrics",
      "/%6D%65%74%72%69%63%73",
      "/./metrics",
      "/ws/../metrics",
      "/ws/%2e%2e/metrics",
      "/ws/..%2fmetrics",
      "/chats/x/../../metrics",
      "/metrics%2F",
      "/metrics%3Fx",
      "/metrics;x=1",
      "/metrics.txt",
      "/metrics/x.html",
      "/metrics#frag",
    ];
    for (const path of spellings) {
      const res = await get(port, path);
      expect(res.status, path).toBe(404);
      const body = expectProblem(res, 404, "not_found");
      expect(body.title).toBe("Not Found");
      expect(res.body).not.toContain("secret-metrics");
    }
    // Other methods, and an absolute-form request target, too.
    for (const method of ["HEAD", "POST", "DELETE", "OPTIONS"]) {
      const res = await raw(port, `${method} /Metrics/ HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(res.status).toBe(404);
      expect(res.headers["content-type"]).toBe("application/problem+json");
    }
    expectProblem(await get(port, "http://edge.test/metrics"), 404, "not_found");
    const reached = [...apiSeen, ...gatewaySeen].filter((u) => /metrics/i.test(safeDecode(u)) && !u.startsWith("/chats/metrics"));
    expect(reached).toEqual([]);
  });

  it("answers 413 problem+json payload_too_large to a body over 16 KiB, announced or chunked", async () => {
    const before = apiSeen.length;
    const big = JSON.stringify({ username: "x".repeat(20 * 1024), password: "y" });
    const announced = await raw(port, `POST /login HTTP/1.1\r\nHost: edge.test\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`);
    expect(expectProblem(announced, 413, "payload_too_large")).toMatchObject({ title: "Payload Too Large" });
    const chunks = Array.from({ length: 5 }, () => `1000\r\n${"z".repeat(0x1000)}\r\n`).join("");
    const chunked = await raw(port, `POST /chats HTTP/1.1\r\nHost: edge.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`);
    expectProblem(chunked, 413, "payload_too_large");
    // On a kept-alive connection without Connection: close, with a URI that has an extension.
    const keptAlive = await raw(port, `POST /login.html HTTP/1.1\r\nHost: edge.test\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
    expectProblem(keptAlive, 413, "payload_too_large");
    // A polling POST to the gateways too.
    expectProblem(await raw(port, `POST /ws/?EIO=4&transport=polling HTTP/1.1\r\nHost: edge.test\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`), 413, "payload_too_large");
    expect(apiSeen.slice(before)).toEqual([]);
  });

  it("answers problem+json invalid_body 400 to requests nginx itself refuses", async () => {
    const cases: [string, string][] = [
      ["a garbage request line", "GARBAGE\r\n\r\n"],
      ["an HTTP/1.1 request without Host", "GET /login HTTP/1.1\r\nConnection: close\r\n\r\n"],
      ["a header line without a colon", "GET /login HTTP/1.1\r\nHost: edge.test\r\nno colon here\r\nConnection: close\r\n\r\n"],
      ["a URI over 8k (414)", `GET /${"u".repeat(9_000)} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n`],
      ["a header over 8k (494)", `GET /login HTTP/1.1\r\nHost: edge.test\r\nX-Big: ${"h".repeat(9_000)}\r\nConnection: close\r\n\r\n`],
      ["an unknown Transfer-Encoding (501)", "POST /login HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n"],
      ["HTTP/2.0 in the request line (505)", "GET /login HTTP/2.0\r\nHost: edge.test\r\nConnection: close\r\n\r\n"],
      ["a path above the root", "GET /chats/../../metrics HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n"],
      ["a bad chunk size", "POST /login HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n"],
    ];
    const before = apiSeen.length;
    for (const [what, request] of cases) {
      const res = await raw(port, request);
      expect({ what, status: res.status, type: res.headers["content-type"] }, res.body).toEqual({ what, status: 400, type: "application/problem+json" });
      expectProblem(res, 400, "invalid_body");
    }
    expect(apiSeen.slice(before)).toEqual([]);
    // The internal locations behind these answers are not reachable from outside.
    expectProblem(await get(port, "/.problem/invalid_request"), 404, "not_found");
    // TRACE is refused by nginx (405) before routing: answered as the api answers an unserved method.
    expectProblem(await raw(port, "TRACE /login HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\n\r\n"), 404, "not_found");
  });

  it("passes the api's own errors through untouched, a problem+json 503 included", async () => {
    const own = await get(port, "/own-503");
    expect(own.status).toBe(503);
    expect(own.body).toBe(API_PROBLEM_503);
    expect(own.headers["content-type"]).toBe("application/problem+json");
    expect(own.headers["retry-after"]).toBe("7");
    expect((await get(port, "/own-404")).body).toBe('{"code":"not_found","detail":"api"}');
    expect(await get(port, "/own-502")).toMatchObject({ status: 502, body: "api says 502" });
    expect(await get(port, "/own-500")).toMatchObject({ status: 500, body: "api says 500" });
  });

  it("answers 503 problem+json unavailable with Retry-After when the api times out", async () => {
    const started = Date.now();
    const res = await get(port, "/hang");
    const body = expectProblem(res, 503, "unavailable");
    expect(body.title).toBe("Service Unavailable");
    expect(res.headers["retry-after"]).toBe("1");
    expect(Date.now() - started).toBeLessThan(5_000);
    // The access log keeps nginx's own view (504) and still masks tokens.
    await get(port, "/me?access_token=SECRET.TOKEN.VALUE&x=1");
    // nginx writes a request's line after its answer has left: the client may read the log first.
    const readLog = () => readFileSync(join(runDir, "logs", "access.log"), "utf8");
    await vi.waitFor(() => expect(readLog()).toContain("/me?[masked]"), { timeout: 3_000, interval: 50 });
    const log = readLog();
    expect(log).toMatch(/"GET \/hang\? HTTP\/1\.1" 503 \d+ [\d.]+ "[^"]+" "504"/);
    expect(log).not.toContain("SECRET");
  });

  // Last: these stop the stand-ins.
  it("answers 503 problem+json unavailable with Retry-After when no gateway listens", async () => {
    await stopServer(gateway);
    for (const path of ["/ws/?EIO=4&transport=polling", "/ws/?EIO=4&transport=polling&sid=abc"]) {
      const res = await get(port, path);
      expectProblem(res, 503, "unavailable");
      expect(res.headers["retry-after"]).toBe("1");
    }
    const upgrade = await raw(port, "GET /ws/?EIO=4&transport=websocket HTTP/1.1\r\nHost: edge.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    expectProblem(upgrade, 503, "unavailable");
  });

  it("answers 503 problem+json unavailable with Retry-After when the api is down", async () => {
    await stopServer(api);
    const res = await raw(port, `POST /login HTTP/1.1\r\nHost: edge.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(expectProblem(res, 503, "unavailable")).toMatchObject({ title: "Service Unavailable" });
    expect(res.headers["retry-after"]).toBe("1");
    // Still a 404 for metrics, not a 503: the rule does not depend on the api.
    expectProblem(await get(port, "/METRICS/"), 404, "not_found");
    // nginx's own complaints: none about the configuration or a failed redirect to an error page.
    const errors = readFileSync(join(runDir, "logs", "error.log"), "utf8") + nginxLog;
    expect(errors).not.toMatch(/\[(emerg|alert|crit)\]|named location|error_page/);
  });
});


function safeDecode(u: string): string {
  try {
    return decodeURIComponent(u);
  } catch {
    return u;
  }
}

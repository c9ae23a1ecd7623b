import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, listen } from "../../shared/process";
import { chromiumReady, chromiumSkipReason, launchChromium } from "../support/chromium";
import { TEST_PRIVATE_KEY } from "../support/config";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { chatWith, httpClient as http, type LoggedIn, registerAndLogin } from "../support/http";
import { freePort } from "../support/redis-server";
import type { ClientSocket } from "../support/socket-client";
import { eventually } from "../support/waits";

/**
 * Stock clients in other runtimes against the `npm start` composition (api and gateway in one
 * process, in-memory bus): Debian's python3-socketio, and Chromium with socket.io-client's browser
 * bundle. Each skips, saying what to install, when its runtime is missing.
 */
const root = resolve(__dirname, "../..");
const PYTHON = "/usr/bin/python3";

const pythonReady = spawnSync(PYTHON, ["-c", "import socketio, requests, websocket"], { stdio: "ignore" }).status === 0;
const anyReady = pythonReady || chromiumReady;

let database: TestDatabase;
let standalone: ChildProcess | undefined;
let base: string;
let pages: Server | undefined;
let pagesOrigin: string;
let output = "";

/** Serves the test page and socket.io-client's browser bundle from an origin of its own. */
async function servePages(): Promise<Server> {
  const files: Record<string, [string, string]> = {
    "/index.html": [resolve(__dirname, "browser/index.html"), "text/html"],
    "/socket.io.min.js": [resolve(root, "node_modules/socket.io-client/dist/socket.io.min.js"), "text/javascript"],
  };
  const server = createServer((req, res) => {
    const file = files[req.url ?? ""];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": file[1] }).end(readFileSync(file[0]));
  });
  await listen(server, 0, "127.0.0.1");
  return server;
}

beforeAll(async () => {
  if (!anyReady) return;
  database = await createTestDatabase({ migrate: false });
  pages = await servePages();
  pagesOrigin = `http://127.0.0.1:${(pages.address() as { port: number }).port}`;
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "test",
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: database.url,
    JWT_PRIVATE_KEY: TEST_PRIVATE_KEY,
    CORS_ORIGINS: pagesOrigin,
    LOG_LEVEL: "info", // verbose on purpose: the output is checked for tokens below
    ARGON2_MEMORY_KIB: "19456",
    ARGON2_TIME_COST: "2",
    ARGON2_PARALLELISM: "1",
  };
  delete env.REDIS_URL;
  // The standalone entry point itself (as `npm start` runs it), straight from source through tsx.
  standalone = spawn(process.execPath, ["--import", "tsx", "bin/standalone.ts"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  standalone.stdout!.on("data", (d: Buffer) => (output += d));
  standalone.stderr!.on("data", (d: Buffer) => (output += d));
  await eventually(
    async () => {
      if (standalone!.exitCode !== null) throw new Error(`standalone exited: ${output}`);
      return fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    },
    45_000,
    "the standalone server",
  );
}, 60_000);

afterAll(async () => {
  if (standalone && standalone.exitCode === null) {
    const exited = new Promise((r) => standalone!.once("exit", r));
    standalone.kill("SIGTERM");
    await exited;
  }
  if (pages) await closeServer(pages);
  await database?.drop();
  // Never a token in the server's output (the browser and python clients sent theirs three ways).
  expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
});

describe("stock clients in other languages", () => {
  it.skipIf(!pythonReady)(
    `python-socketio joins a chat, sends, receives and sees its session revoked${pythonReady ? "" : ` (skipped: ${PYTHON} lacks socketio/requests/websocket; apt-get install python3-socketio python3-requests python3-websocket)`}`,
    async () => {
      const owner = await registerAndLogin(http(base), "owner");
      const py = await registerAndLogin(http(base), "py");
      const chatId = await chatWith(owner, [py]);
      const child = spawn(PYTHON, [resolve(__dirname, "python_client.py"), base, py.token, chatId], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d));
      const lines: Record<string, unknown>[] = [];
      createInterface({ input: child.stdout! }).on("line", (line) => {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ event: "unparsable", line });
        }
      });
      const exited = new Promise<number | null>((r) => child.once("exit", r));
      const saw = (event: string, extra: Record<string, unknown> = {}) =>
        eventually(() => lines.some((l) => l.event === event && Object.entries(extra).every(([k, v]) => l[k] === v)), 20_000, `python ${event}: ${stderr}`);
      try {
        await saw("sent");
        await owner.http.post(`/chats/${chatId}/messages`, { text: "from the browser" });
        await saw("message:new", { text: "from the browser" });
        expect((await py.http.post("/logout")).status).toBe(204);
        expect(await exited, `python: ${JSON.stringify(lines)} ${stderr}`).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      expect(lines.find((l) => l.event === "refused"), `python: ${JSON.stringify(lines)} ${stderr}`).toEqual({ event: "refused", data: { message: "invalid_token", data: { code: "invalid_token", status: 401 } } });
      // Handlers run on python-socketio's own thread: compare as a set, then the order that matters.
      expect(lines, stderr).toEqual(
        expect.arrayContaining([
          { event: "connected", transport: "websocket" },
          { event: "joined", ok: true },
          { event: "junk", code: "invalid_payload" },
          { event: "message:new", text: "from python", sender: py.username },
          { event: "sent", ok: true, text: "from python" },
          { event: "message:new", text: "from the browser", sender: owner.username },
          { event: "session:ended", reason: "revoked" },
          { event: "disconnect" },
          { event: "done" },
        ]),
      );
      const at = (event: string) => lines.findIndex((l) => l.event === event);
      expect(at("session:ended")).toBeLessThan(at("disconnect"));
    },
  );

  it.skipIf(!chromiumReady)(
    `a browser with the socket.io-client bundle upgrades to WebSocket, chats and sees its session revoked${chromiumSkipReason}`,
    async () => {
      const owner = await registerAndLogin(http(base), "owner");
      const web: LoggedIn = await registerAndLogin(http(base), "web");
      const chatId = await chatWith(owner, [web]);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(`${pagesOrigin}/index.html`);
        /** What test/e2e-clients/browser/index.html puts on `window`: its socket is socket.io-client's, typed here with the contract. */
        type PageEvent = { event: "message:new"; text: string } | { event: "session:ended"; reason: string } | { event: "disconnect"; reason: string };
        type Win = { start(b: string, t: string, c: string): Promise<string>; attempt(b: string, a: object): Promise<unknown>; socket: ClientSocket; events: PageEvent[] };
        expect(await page.evaluate(([b, t]) => (globalThis as unknown as Win).attempt(b!, { token: t }), [base, "not-a-jwt"])).toEqual({ code: "invalid_token", status: 401 });
        expect(await page.evaluate(([b, t, c]) => (globalThis as unknown as Win).start(b!, t!, c!), [base, web.token, chatId])).toBe("polling");
        await eventually(() => page.evaluate(() => (globalThis as unknown as Win).socket.io.engine.transport.name === "websocket"), 10_000, "the upgrade");
        const ack = await page.evaluate((c) => (globalThis as unknown as Win).socket.timeout(5000).emitWithAck("message:send", { chat_id: c, text: "from chromium" }), chatId);
        expect(ack).toMatchObject({ ok: true, message: { text: "from chromium", sender: { username: web.username } } });
        await owner.http.post(`/chats/${chatId}/messages`, { text: "to chromium" });
        const events = () => page.evaluate(() => (globalThis as unknown as Win).events);
        await eventually(async () => (await events()).some((e) => e.event === "message:new" && e.text === "to chromium"), 10_000, "the message in the browser");
        expect((await web.http.post("/logout")).status).toBe(204);
        await eventually(async () => (await events()).some((e) => e.event === "disconnect"), 10_000, "the disconnect in the browser");
        expect((await events()).slice(-2)).toEqual([
          { event: "session:ended", reason: "revoked" },
          { event: "disconnect", reason: "io server disconnect" },
        ]);
        // Another origin is not in CORS_ORIGINS: the browser cannot complete the handshake from there.
        const stranger = await browser.newPage();
        await stranger.goto(`${pagesOrigin.replace("127.0.0.1", "localhost")}/index.html`);
        expect(await stranger.evaluate(([b, t]) => (globalThis as unknown as Win).attempt(b!, { token: t }), [base, owner.token])).not.toBe("connected");
      } finally {
        await browser.close();
      }
    },
  );
});

import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { es256SigningKey } from "../../shared/auth/keys";
import { ROOT } from "../support/build";
import type { Cluster } from "../support/cluster";
import { clusterForFile } from "../support/cluster-file";
import { chatWith, httpClient, registerAndLogin } from "../support/http";
import { ask, type ClientSocket } from "../support/socket-client";
import { eventually, nextEvent } from "../support/waits";

// A signing-key rotation across the running pm2 cluster: the api replicas are reloaded with a new
// key (the old one still published), the gateways learn it from the JWKS with no restart, and no
// socket drops. The gateways run with no signing key or secret in their environment at all.

const run = promisify(execFile);
const keys = mkdtempSync(join(tmpdir(), "wsac-keys-"));

const newKey = (file: string) => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  writeFileSync(join(keys, `${file}.pem`), privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
  writeFileSync(join(keys, `${file}.pub.pem`), publicKey.export({ format: "pem", type: "spki" }));
  return { private: join(keys, `${file}.pem`), public: join(keys, `${file}.pub.pem`), kid: es256SigningKey(readFileSync(join(keys, `${file}.pem`), "utf8")).kid };
};
const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { kid: string }).kid;

const A = newKey("a");
const file = clusterForFile({ env: { JWT_PRIVATE_KEY: A.private } });
const { sockets } = file;
let cluster: Cluster;
beforeAll(() => {
  cluster = file.cluster;
});
afterAll(() => rmSync(keys, { recursive: true, force: true }));

/** The environment pm2 gave a running process. */
function environOf(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

describe("a signing-key rotation across the running cluster", () => {
  it("runs the gateways without any signing key or secret in their environment", async () => {
    const gateways = (await cluster.processes()).filter((p) => p.name.startsWith("gateway-"));
    expect(gateways).toHaveLength(3);
    for (const g of gateways) {
      const env = environOf(g.pid);
      expect(env.JWT_PRIVATE_KEY ?? "").toBe("");
      expect(env.JWT_SECRET ?? "").toBe("");
      expect(env.JWKS_URL).toBe(`http://127.0.0.1:${cluster.apiPort}/.well-known/jwks.json`);
      expect(Object.values(env).join("\n")).not.toContain("PRIVATE KEY");
    }
    const api = (await cluster.processes()).find((p) => p.name === "api")!;
    expect(environOf(api.pid).JWT_PRIVATE_KEY).toBe(A.private);
  });

  it("moves every api replica to a new key while the gateways keep every socket and learn the key", async () => {
    const http = httpClient(cluster.url);
    const alice = await registerAndLogin(http, "rot_a");
    const bob = await registerAndLogin(http, "rot_b");
    const chatId = await chatWith(alice, [bob]);
    expect(kidOf(alice.token)).toBe(A.kid);
    // One socket of each user on every gateway, straight to its port.
    const held: ClientSocket[] = [];
    for (const port of cluster.gatewayPorts) {
      held.push(await sockets.connect(`http://127.0.0.1:${port}`, { token: alice.token, chatId }));
      held.push(await sockets.connect(`http://127.0.0.1:${port}`, { token: bob.token, chatId }));
    }
    let dropped = 0;
    for (const s of held) s.on("disconnect", () => (dropped += 1));

    // The rotation: B signs, A is still published (its tokens live up to ACCESS_TOKEN_TTL more).
    const B = newKey("b");
    await run(process.execPath, [join(ROOT, "node_modules/pm2/bin/pm2"), "reload", join(ROOT, "ecosystem.config.js"), "--only", "api", "--update-env"], {
      cwd: ROOT,
      env: { ...cluster.env, JWT_PRIVATE_KEY: B.private, JWT_PUBLIC_KEYS: A.public },
      timeout: 60_000,
    });
    await eventually(
      async () => {
        const res = await fetch(`${cluster.url}/.well-known/jwks.json`).catch(() => undefined);
        const kids = res?.ok ? ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort() : [];
        return JSON.stringify(kids) === JSON.stringify([A.kid, B.kid].sort());
      },
      30_000,
      "the api replicas to publish both keys",
    );

    // New logins carry the new key, and every gateway accepts them.
    let fresh = "";
    await eventually(
      async () => {
        const login = await http.post("/login", { username: alice.username, password: alice.password });
        fresh = login.status === 200 ? (login.body.token as string) : "";
        return kidOf(fresh || "e30.e30.x") === B.kid;
      },
      15_000,
      "a login signed with the new key",
    );
    for (const port of cluster.gatewayPorts) {
      await eventually(
        async () => {
          const refusal = await sockets.refusal(`http://127.0.0.1:${port}`, { token: fresh }).catch(() => undefined);
          return refusal === undefined;
        },
        15_000,
        `gateway on ${port} to accept the new key`,
      );
    }

    // The held sockets renew in band with tokens of the new key; tokens of the old key still work.
    const renewed = await http.post("/token/refresh", { refresh_token: alice.refreshToken });
    expect(kidOf(renewed.body.token)).toBe(B.kid);
    for (const s of held.filter((_, i) => i % 2 === 0)) expect(await ask(s, "auth:refresh", { token: renewed.body.token })).toMatchObject({ ok: true });
    expect((await httpClient(cluster.url, bob.token).get("/me")).status).toBe(200);
    expect((await sockets.connect(`http://127.0.0.1:${cluster.gatewayPorts[0]}`, { token: bob.token })).connected).toBe(true);

    // The room still spans the gateways, and nothing dropped.
    const heard = nextEvent(held[held.length - 1]!, "message:new", 5_000);
    expect((await ask(held[0]!, "message:send", { chat_id: chatId, text: "after the rotation" })).ok).toBe(true);
    expect((await heard).text).toBe("after the rotation");
    expect(dropped).toBe(0);
    expect(held.every((s) => s.connected)).toBe(true);
  }, 120_000);
});

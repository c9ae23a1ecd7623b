import { existsSync, readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Cluster, fromAddress, listening } from "../support/cluster";
import { clusterForFile } from "../support/cluster-file";
import { httpClient, type LoggedIn, registerAndLogin } from "../support/http";
import { connected } from "../support/socket-client";
import { eventually } from "../support/waits";

// Tokens travel in the query string (`/ws/?token=<JWT>`), so every log the cluster writes is a place
// they could end up: nginx's access log (its mask) and error log (the request line of an upstream
// failure), and the processes' own logs under pm2. This file drives the leaky cases through the
// real cluster with one gateway down and then reads every log file the cluster wrote.

const file = clusterForFile();
const { sockets } = file;
let cluster: Cluster;
beforeAll(() => {
  cluster = file.cluster;
});

/** A GET from a chosen loopback address, query sent exactly as spelled; resolves with the status (bounded). */
function getFrom(localAddress: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: cluster.port, path, localAddress, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(8_000, () => req.destroy(new Error(`no answer to GET ${path.slice(0, 40)}… within 8 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** Every *.log file under `dir`, recursively (nginx's logs, pm2's daemon and process logs). */
function logFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".log"))
    .map((e) => join(e.parentPath, e.name));
}

/** Any JWT-shaped string, so that a failure message shows where a secret was without printing one. */
const JWT_SHAPED = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;

/** Per file: how many lines hold any of `secrets`, and the first two of them, redacted. */
function leaksIn(files: string[], base: string, secrets: string[]): Record<string, { lines: number; first: string[] }> {
  const leaks: Record<string, { lines: number; first: string[] }> = {};
  for (const file of files) {
    const hits = readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => secrets.some((s) => line.includes(s)));
    if (!hits.length) continue;
    const redact = (line: string) => secrets.reduce((l, s) => l.replaceAll(s, "<SECRET>"), line).replace(JWT_SHAPED, "<JWT>").slice(0, 300);
    leaks[file.slice(base.length)] = { lines: hits.length, first: hits.slice(0, 2).map(redact) };
  }
  return leaks;
}

describe("tokens in the query string never reach a log", () => {
  it("keeps access tokens out of nginx's access and error logs and pm2's logs, with a gateway down and the name spelled every way engine.io reads", async () => {
    const user: LoggedIn = await registerAndLogin(httpClient(cluster.url), "logs");
    const jwt = user.token;
    const signature = jwt.split(".")[2]!;
    expect(jwt.split(".")).toHaveLength(3);
    expect(signature.length).toBeGreaterThan(20);

    for (const port of cluster.gatewayPorts) await eventually(() => listening(port), 15_000, `the gateway on ${port} to listen`);
    // A gateway down: nginx's failed connect() to it used to write the request line (and the
    // upstream URL), token included, to its error log.
    const deadPort = cluster.gatewayPorts[1]!;
    await cluster.pm2("stop", "gateway-2");
    await eventually(async () => !(await listening(deadPort)), 15_000, "gateway-2 to stop listening");

    // engine.io percent-decodes names: the first five but TOKEN are `token` to the server (names are
    // case-sensitive; the mask ignores case all the same). Then the other token names, and a JWT
    // under a name that says nothing.
    const spellings = [
      `token=${jwt}`,
      `%74oken=${jwt}`,
      `TOKEN=${jwt}`,
      `%74%6Fken=${jwt}`,
      `to%6Ben=${jwt}`,
      `access_token=${jwt}`,
      `refresh_token=${user.refreshToken}`,
      `auth=${jwt}`,
    ];
    // nginx hashes on the client address: with 24 addresses over three gateways, some hash to the dead
    // one (each worker tries it once per fail_timeout, then skips it).
    const addresses = Array.from({ length: 24 }, (_, i) => `127.0.0.${100 + i}`);
    for (const address of addresses) {
      for (const spelling of spellings) {
        const status = await getFrom(address, `/ws/?EIO=4&transport=polling&${spelling}&chat_id=${user.user.id}`);
        expect([200, 400, 403]).toContain(status); // a handshake the gateway answered, or refused: never nginx's 503
      }
    }
    // A stock client with the token in its query, over long-polling (every poll repeats the query).
    const clientAddresses = ["127.0.0.140", "127.0.0.141", "127.0.0.142", "127.0.0.143"];
    for (const address of clientAddresses) {
      const socket = await connected(
        sockets.socket(cluster.url, { agent: fromAddress(address), localAddress: address, transports: ["polling"], query: { token: jwt } }),
      );
      expect(socket.io.engine.transport.name).toBe("polling");
    }
    sockets.closeAll();

    const nginxLogs = join(cluster.env.CLUSTER_RUN_DIR!, "logs");
    const accessLog = join(nginxLogs, "access.log");
    const linesFrom = (from: string[]) =>
      readFileSync(accessLog, "utf8")
        .split("\n")
        .filter((l) => from.some((a) => l.startsWith(`${a} `)) && l.includes(" /ws/?"));
    const rawLines = () => linesFrom(addresses);
    // nginx writes a request's line after its answer has left.
    await eventually(() => rawLines().length >= addresses.length * spellings.length, 10_000, "nginx to log every request");
    await eventually(() => clientAddresses.every((a) => linesFrom([a]).length >= 2), 10_000, "nginx to log the stock clients' handshakes and polls");

    // At least one request was sent to the dead gateway first (its failure is what the error log records).
    expect(rawLines().some((l) => l.includes(`127.0.0.1:${deadPort}`) && /"[^"]*502[^"]*"/.test(l))).toBe(true);

    const files = [...logFiles(cluster.env.CLUSTER_RUN_DIR!), ...logFiles(cluster.env.PM2_HOME!)];
    const names = files.map((f) => f.slice(cluster.runDir.length));
    expect(names).toEqual(expect.arrayContaining(["/nginx/logs/access.log", "/nginx/logs/error.log", "/pm2/pm2.log", "/pm2/logs/gateway-2-out.log", "/pm2/logs/nginx-error.log"]));
    const leaks = leaksIn(files, cluster.runDir, [jwt, signature, user.refreshToken]);
    expect(leaks).toEqual({});

    // Not vacuous: every request is in the access log, its query masked, its path and status kept.
    const lines = rawLines();
    expect(lines.length).toBe(addresses.length * spellings.length);
    for (const line of lines) expect(line).toMatch(/"GET \/ws\/\?\[masked\] HTTP\/1\.1" (200|400|403) \d+ /);
    for (const line of linesFrom(clientAddresses)) expect(line).toMatch(/"(GET|POST) \/ws\/\?\[masked\] HTTP\/1\.1" \d{3} /);
  }, 120_000);
});

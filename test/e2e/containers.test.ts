import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ROOT } from "../support/build";

// No Docker engine runs here: the compose file is checked by docker-compose itself (config), the
// nginx config of the compose variant by nginx -t, and the image against what pm2 runs.

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const composeConfig = async (env: Record<string, string>, overrides: string[] = []) =>
  run("docker-compose", ["-f", join(ROOT, "docker-compose.yml"), ...overrides.flatMap((f) => ["-f", join(ROOT, f)]), "config"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
  });

describe("docker compose (static)", () => {
  it("is accepted by docker-compose config, with every service and dependency condition", async () => {
    const { stdout } = await composeConfig({ JWT_PRIVATE_KEY_FILE: "/keys/jwt.pem" });
    const c = parseYaml(stdout) as { services: Record<string, any>; volumes: Record<string, unknown> };
    expect(Object.keys(c.services).sort()).toEqual(["api", "gateway", "migrate", "nginx", "postgres", "redis", "worker"]);
    expect(c.volumes).toHaveProperty("pgdata");
    expect(c.services.postgres.healthcheck.test).toBeTruthy();
    expect(String(c.services.postgres.volumes[0])).toContain("pgdata:/var/lib/postgresql/data");
    expect(c.services.migrate.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    for (const svc of ["api", "gateway", "worker"]) {
      expect(c.services[svc].depends_on).toEqual({ migrate: { condition: "service_completed_successfully" }, redis: { condition: "service_healthy" } });
      expect(c.services[svc].environment.NODE_ENV).toBe("production");
    }
    // Only the api holds the signing key (a compose secret); gateways verify with its JWKS.
    expect(c.services.api.environment.JWT_PRIVATE_KEY).toBe("/run/secrets/jwt_private_key");
    expect(c.services.api.secrets).toEqual([expect.objectContaining({ source: "jwt_private_key" })]);
    expect((c as unknown as { secrets: Record<string, { file: string }> }).secrets.jwt_private_key?.file).toBe("/keys/jwt.pem");
    expect(c.services.gateway.environment.JWT_PRIVATE_KEY).toBeUndefined();
    expect(c.services.gateway.secrets).toBeUndefined();
    expect(c.services.gateway.environment.JWKS_URL).toBe("http://api:3000/.well-known/jwks.json");
    // Scalable: gateways and webhook workers publish no host port; only nginx does, on 3000.
    expect(c.services.gateway.ports).toBeUndefined();
    // Room for its sockets: a descriptor each.
    expect(c.services.gateway.ulimits.nofile).toEqual({ soft: 65536, hard: 65536 });
    expect(c.services.worker.ports).toBeUndefined();
    expect(c.services.worker.command).toEqual(["node", "dist/bin/worker.js"]);
    expect(c.services.worker.environment.JWT_PRIVATE_KEY).toBeUndefined();
    expect(c.services.nginx.ports).toEqual([expect.objectContaining({ published: 3000, target: 3000 })]);
    expect(c.services.nginx.depends_on).toEqual({ api: { condition: "service_healthy" }, gateway: { condition: "service_healthy" } });
  });

  it("runs the app on a Redis Cluster with the override file: six nodes, a one-shot init, REDIS_CLUSTER_NODES", async () => {
    const { stdout } = await composeConfig({ JWT_PRIVATE_KEY_FILE: "/keys/jwt.pem" }, ["docker-compose.redis-cluster.yml"]);
    const c = parseYaml(stdout) as { services: Record<string, any> };
    const nodes = ["redis-1", "redis-2", "redis-3", "redis-4", "redis-5", "redis-6"];
    for (const node of nodes) {
      expect(c.services[node].command).toEqual(expect.arrayContaining(["--cluster-enabled", "yes", "--cluster-announce-hostname", node]));
      expect(c.services[node].healthcheck.test).toBeTruthy();
    }
    expect(Object.keys(c.services["redis-cluster-init"].depends_on).sort()).toEqual(nodes);
    expect(c.services["redis-cluster-init"].command.join(" ")).toContain("--cluster create");
    for (const svc of ["api", "gateway", "worker"]) {
      expect(c.services[svc].environment.REDIS_CLUSTER_NODES).toBe(nodes.map((n) => `${n}:6379`).join(","));
      expect(c.services[svc].environment.REDIS_URL).toBe("");
      expect(c.services[svc].depends_on["redis-cluster-init"]).toEqual({ condition: "service_completed_successfully" });
    }
  });

  it("refuses to run without the api's signing key file", async () => {
    await expect(composeConfig({})).rejects.toMatchObject({ stderr: expect.stringContaining("JWT_PRIVATE_KEY_FILE") });
  });

  it("runs the same entry points as pm2, from an image that builds them", () => {
    const compose = readFileSync(join(ROOT, "docker-compose.yml"), "utf8");
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const eco = require(join(ROOT, "ecosystem.config.js")) as { apps: { name: string; script: string }[] };
    for (const entry of ["dist/bin/api.js", "dist/bin/gateway.js", "dist/bin/worker.js", "dist/bin/migrate.js"]) expect(compose).toContain(`"${entry}"`);
    expect(eco.apps.find((a) => a.name === "worker")!.script.endsWith("dist/bin/worker.js")).toBe(true);
    expect(eco.apps.find((a) => a.name === "api")!.script.endsWith("dist/bin/api.js")).toBe(true);
    expect(eco.apps.find((a) => a.name === "gateway-1")!.script.endsWith("dist/bin/gateway.js")).toBe(true);
    expect(dockerfile).toMatch(/^FROM node:22[^\n]* AS build$/m);
    expect(dockerfile).toMatch(/npm run build && npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    for (const dir of ["api", "gateway", "shared", "migrations", "bin", "client"]) expect(dockerfile).toContain(`COPY ${dir} ./${dir}`);
  });

  it("has an nginx config for compose that nginx accepts", () => {
    // nginx 1.22 here predates `resolve` in upstreams (1.27.3, the image has 1.28): check the rest.
    const dir = mkdtempSync(join(tmpdir(), "wsac-nginx-docker-"));
    dirs.push(dir);
    const conf = readFileSync(join(ROOT, "nginx/docker.conf"), "utf8")
      .replaceAll("/etc/nginx/wsac/", `${dir}/`)
      .replace("include /etc/nginx/mime.types;", "")
      .replace(/server gateway:3000 resolve/, "server 127.0.0.1:3101")
      .replace(/server api:3000 resolve/, "server 127.0.0.1:3100")
      .replace("listen 3000;", "listen 127.0.0.1:3999;")
      .replace("access_log /dev/stdout masked;", `access_log ${dir}/access.log masked;`)
      .replace(/^\s*zone .*$/gm, "");
    for (const f of ["common.conf", "locations.conf"]) writeFileSync(join(dir, f), readFileSync(join(ROOT, "nginx", f)));
    writeFileSync(join(dir, "nginx.conf"), `pid ${dir}/nginx.pid;\n${conf}`);
    const out = execFileSync("nginx", ["-t", "-p", dir, "-c", join(dir, "nginx.conf")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(out).toBe("");
  });
});

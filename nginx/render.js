// Renders nginx.conf.template for the pm2 cluster: one `server` line per gateway, the api
// replicas' port, and paths under a run directory. Plain CommonJS so that ecosystem.config.js
// (loaded by pm2 with require) and the tests can both use it before anything is compiled.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const HERE = __dirname;

/**
 * @param {{ runDir: string, listen?: string, gatewayPorts: number[], apiPorts: number[], host?: string, user?: string }} o
 * @returns {string} the path of the written nginx.conf
 */
function renderNginxConfig(o) {
  const host = o.host || "127.0.0.1";
  for (const dir of ["logs", "tmp"]) fs.mkdirSync(path.join(o.runDir, dir), { recursive: true });
  for (const file of ["common.conf", "locations.conf"]) fs.copyFileSync(path.join(HERE, file), path.join(o.runDir, file));
  const mime = ["/etc/nginx/mime.types", "/usr/local/nginx/conf/mime.types"].find((f) => fs.existsSync(f));
  fs.writeFileSync(path.join(o.runDir, "mime.types"), mime ? fs.readFileSync(mime) : "types { application/json json; }\n");
  const servers = (ports, extra) => ports.map((p) => `    server ${host}:${p}${extra};`).join("\n");
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const groups = fs.existsSync("/etc/group") ? fs.readFileSync("/etc/group", "utf8") : "";
  const user = o.user || (/^nogroup:/m.test(groups) ? "nobody nogroup" : "nobody");
  const conf = fs
    .readFileSync(path.join(HERE, "nginx.conf.template"), "utf8")
    .replaceAll("{{RUN_DIR}}", o.runDir)
    .replaceAll("{{LISTEN}}", o.listen || "3000")
    // Run as root, the workers drop to an unprivileged user; otherwise nginx keeps the caller's.
    .replaceAll("{{USER_DIRECTIVE}}", isRoot ? `user ${user};` : "")
    // A failed gateway is skipped for 5 s; nginx then tries it again.
    .replaceAll("{{GATEWAY_SERVERS}}", servers(o.gatewayPorts, " max_fails=1 fail_timeout=5s"))
    .replaceAll("{{API_SERVERS}}", servers(o.apiPorts, ""));
  const file = path.join(o.runDir, "nginx.conf");
  fs.writeFileSync(file, conf);
  return file;
}

module.exports = { renderNginxConfig };

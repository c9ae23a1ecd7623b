// The local cluster under pm2 (`npm run cluster`): nginx on 3000 in front of api replicas
// (cluster mode, one port: 3100) and GATEWAYS gateways (3101, 3102, …), plus WORKERS webhook
// workers (no public port), against DATABASE_URL and REDIS_URL (or REDIS_CLUSTER_NODES). Loaded by pm2 with require(), so it is plain CommonJS and runs the compiled dist/.
"use strict";
const path = require("node:path");
const fs = require("node:fs");
const { renderNginxConfig } = require("./nginx/render.js");

const root = __dirname;
const int = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`Invalid configuration: ${name} must be a positive whole number (got "${v}")`);
  return Number(v);
};

const GATEWAYS = int("GATEWAYS", 3);
const WORKERS = int("WORKERS", 1);
const API_INSTANCES = int("API_INSTANCES", 2);
const LISTEN = int("CLUSTER_PORT", 3000);
const API_PORT = int("API_PORT", 3100);
const runDir = process.env.CLUSTER_RUN_DIR || path.join(root, ".data", "cluster");
const gatewayPorts = Array.from({ length: GATEWAYS }, (_, i) => API_PORT + 1 + i);
// /metrics of every process on a loopback port of its own (never behind nginx): the api replicas
// on METRICS_BASE, METRICS_BASE + 1, … (pm2 increments it per instance), then the gateways.
const METRICS_BASE = int("CLUSTER_METRICS_PORT", API_PORT + 100);
const gatewayMetricsPorts = gatewayPorts.map((_, i) => METRICS_BASE + API_INSTANCES + i);
// A webhook worker serves /healthz, /readyz and /metrics on its one loopback port, after the gateways'.
const WORKER_PORT = METRICS_BASE + API_INSTANCES + GATEWAYS;

const nginxBin = [process.env.NGINX_BIN, "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].find((p) => p && fs.existsSync(p));
const nginxConf = renderNginxConfig({ runDir, listen: String(LISTEN), gatewayPorts, apiPorts: [API_PORT] });

// Shared by every node process: they listen on loopback only (nginx is the one way in), trust
// the proxy on loopback for X-Forwarded-For, and stop gracefully on pm2's SIGINT within kill_timeout.
const common = {
  cwd: root,
  autorestart: true,
  max_restarts: 50,
  min_uptime: "5s",
  restart_delay: 500,
  kill_timeout: 12000,
  merge_logs: true,
  time: false,
};
const webhookEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("WEBHOOK_")));
const env = (extra) => ({
  NODE_ENV: process.env.NODE_ENV || "development",
  HOST: "127.0.0.1",
  TRUST_PROXY: "loopback",
  DATABASE_URL: process.env.DATABASE_URL,
  REDIS_URL: process.env.REDIS_URL,
  REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES,
  ...webhookEnv,
  ...extra,
});

module.exports = {
  apps: [
    {
      ...common,
      name: "api",
      script: path.join(root, "dist/bin/api.js"),
      exec_mode: "cluster",
      instances: API_INSTANCES,
      increment_var: "METRICS_PORT",
      // The signing key (and the public keys published beside it) are read at each start or reload:
      // a rotation is `JWT_PRIVATE_KEY=new JWT_PUBLIC_KEYS=old.pub pm2 reload ecosystem.config.js --only api --update-env`.
      env: env({ PORT: String(API_PORT), METRICS_PORT: String(METRICS_BASE), JWT_PRIVATE_KEY: process.env.JWT_PRIVATE_KEY, JWT_PUBLIC_KEYS: process.env.JWT_PUBLIC_KEYS }),
    },
    ...gatewayPorts.map((port, i) => ({
      ...common,
      name: `gateway-${i + 1}`,
      script: path.join(root, "dist/bin/gateway.js"),
      exec_mode: "fork",
      // Gateways verify tokens with the api's public keys (its JWKS) and never see the signing key,
      // even when it is in the environment pm2 was started from.
      env: env({
        PORT: String(port),
        METRICS_PORT: String(gatewayMetricsPorts[i]),
        GATEWAY_ID: `gateway-${i + 1}`,
        JWKS_URL: process.env.JWKS_URL || `http://127.0.0.1:${API_PORT}/.well-known/jwks.json`,
        JWT_PRIVATE_KEY: "",
      }),
    })),
    {
      ...common,
      name: "worker",
      script: path.join(root, "dist/bin/worker.js"),
      exec_mode: "fork",
      instances: WORKERS,
      increment_var: "PORT",
      // Finishes its deliveries in flight on SIGINT; a kill -9 is recovered by the other workers
      // (or its own restart) within 30 s: its jobs are unlocked once its heartbeat stops.
      env: env({ PORT: String(WORKER_PORT), JWT_PRIVATE_KEY: "" }),
    },
    {
      ...common,
      name: "nginx",
      script: nginxBin || "nginx",
      interpreter: "none",
      // In the foreground, so pm2 supervises it; SIGQUIT is nginx's graceful stop.
      args: ["-p", runDir, "-c", nginxConf, "-g", "daemon off;"],
      kill_timeout: 5000,
    },
  ],
};

/**
 * `npm run bench`: our gateway side by side with a bare Socket.IO server, every server and load
 * generator in its own process; prints one table and writes bench/results/latest.{json,md}
 * (latest-<phases>.{json,md} for --only or --profile runs). bench/README.md: the phases, the flags
 * and environment variables, how to read the table.
 *
 *   npm run bench                              every phase (about 15 minutes on 2 cores)
 *   npm run bench -- --only=handshake,memory   some phases (their names below, in PHASES)
 *   npx tsc -p bench/tsconfig.json             type-checks the bench (npm run typecheck does too)
 *
 * The runner starts what the chosen phases need (phases/*.ts, `needs`), runs them in order, each
 * with a context (lib/context.ts), and judges their rows against bench/targets.ts (lib/report.ts).
 */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { es256SigningKey } from "../shared/auth/keys";
import { TokenSigner } from "../shared/auth/tokens";
import type { BenchContext, Need, Phase, ServerName } from "./lib/context";
import { cpuSnapshot, cpuText, type CpuUse, cpuUse } from "./lib/cpu-account";
import { type Child, killAll, spawnChild, stopAll } from "./lib/ipc";
import { CLIENTS, LOAD, type LoadItem } from "./lib/load";
import { parseOptions } from "./lib/options";
import { startRedisServer } from "./lib/redis-server";
import { report, type RunResults } from "./lib/report";
import { createBenchDatabase, seed } from "./lib/setup";
import { attackBufferPhase, attackFloodPhase } from "./phases/attack";
import { clusterPhase } from "./phases/cluster";
import { deliveryPhase } from "./phases/delivery";
import { essentialsPhase } from "./phases/essentials";
import { fanoutPhase } from "./phases/fanout";
import { handshakePhase } from "./phases/handshake";
import { loginPhase } from "./phases/login";
import { memoryPhase } from "./phases/memory";
import { presencePhase } from "./phases/presence";
import { revocationPhase } from "./phases/revocation";
import { scalePhase } from "./phases/scale";
import { soakPhase } from "./phases/soak";
import { storedPhase } from "./phases/stored";
import { tokensPhase } from "./phases/tokens";
import { webhooksPhase } from "./phases/webhooks";

/**
 * Every phase, in the order they run. Last the soak, then the attacks (the first may leave gw1 the
 * worse for it), then the fan-out ladders: each of these stops the servers it does not keep (`alone`).
 */
const PHASES: Phase[] = [
  tokensPhase,
  handshakePhase,
  memoryPhase,
  deliveryPhase,
  revocationPhase,
  loginPhase,
  clusterPhase,
  presencePhase,
  storedPhase,
  webhooksPhase,
  essentialsPhase,
  soakPhase,
  attackFloodPhase,
  attackBufferPhase,
  fanoutPhase,
  scalePhase,
];

/**
 * The whole run stops itself after this (every child killed). A full run takes 15–16 min on this
 * machine at its usual speed; at the slower hours seen on 2026-11-29 (bare's own costs up about
 * 1.7x) it passed 20 min and was cut during its last phase, losing the run's tables.
 */
const DEADLINE_MS = 35 * 60_000;
/**
 * The load's tokens live longer than any run (deadline and phases' extra time included), so that no
 * phase's connections end by their token's expiry: the scale phase's 250,000, seeded before a ramp of
 * up to 25 minutes, were all ended by it (30 min then) 30 s into their hold.
 */
const TOKEN_TTL_S = 3 * 3_600;
const RESULTS = join(__dirname, "results");

const options = parseOptions(process.argv.slice(2), process.env);
const { only } = options;
const chosen = PHASES.filter((p) => (only ? [p.name, ...(p.also ?? [])].some((n) => only.includes(n)) : !p.onlyWhenAsked));
const t0 = Date.now();
const cpu0 = cpuSnapshot();
const log = (msg: string) => process.stdout.write(`[bench +${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const results: RunResults = { rows: [], details: {}, errors: [] };
/** What to stop if the run ends early: the database, Redis, and what phases guard (lib/context.ts). */
const stops = new Set<() => Promise<void>>();

async function cleanup(): Promise<void> {
  await stopAll().catch(() => undefined);
  for (const stop of [...stops].reverse()) await stop().catch((err: Error) => process.stderr.write(`cleanup: ${err.message}\n`));
  stops.clear();
}
function guard(stop: () => Promise<void>): () => void {
  stops.add(stop);
  return () => void stops.delete(stop);
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    process.stderr.write("bench: deadline reached, stopping\n");
    killAll();
    void cleanup().finally(() => process.exit(2));
  }, DEADLINE_MS + chosen.reduce((t, p) => t + (p.extraTimeMs ?? 0), 0));
  watchdog.unref();

  log(`node ${process.version}, ${cpus().length} cores, phases: ${only?.join(",") ?? "all"}${options.profile ? " (profiling the gateway)" : ""}`);
  // Our servers run the compiled dist/ as production does (lib/server-proc.ts): built fresh.
  if (!options.distDir) {
    log("building dist/ (tsc -p .)");
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", join(__dirname, "..")], { stdio: "inherit" });
  }
  // Only the cluster phase's own gateways go on its Redis Cluster (server-proc reads this from its environment).
  delete process.env.BENCH_REDIS_CLUSTER_NODES;
  const database = await createBenchDatabase();
  guard(() => database.drop().catch((err: Error) => void process.stderr.write(`could not drop ${database.name}: ${err.message}\n`)));
  const redis = await startRedisServer();
  guard(() => redis.stop());
  // The api's ES256 key: the load's tokens are signed as the api signs them, the gateways hold the public half only.
  const keyPair = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privatePem = keyPair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const tokens = new TokenSigner(es256SigningKey(privatePem), TOKEN_TTL_S);
  log(`database ${database.name}, redis-server on ${redis.port}; seeding`);
  const needs = new Set<Need>(chosen.flatMap((p) => p.needs));
  const loadSeed = needs.has("load") ? await seed(database.url, tokens, "load_", LOAD.sessions, LOAD.chats) : undefined;
  const load: LoadItem[] = loadSeed ? loadSeed.users.map((u, i) => ({ token: u.token, chat: loadSeed.chatOf(i) })) : [];
  const env = {
    BENCH_DATABASE_URL: database.url,
    BENCH_REDIS_URL: redis.url,
    BENCH_JWT_PRIVATE_KEY: privatePem,
    BENCH_JWT_PUBLIC_KEYS: keyPair.publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
  const serverFile = join(__dirname, "lib/server-proc.ts");
  const profileDir = options.profile ? join(RESULTS, "prof") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const serverEnv: Record<ServerName, Record<string, string>> = {
    gw1: { ...env, BENCH_MODE: "ours" },
    gw2: { ...env, BENCH_MODE: "ours" },
    gw3: { ...env, BENCH_MODE: "ours" },
    bare: { BENCH_MODE: "bare" },
    api: { ...env, BENCH_MODE: "api" },
  };
  const names = (Object.keys(serverEnv) as ServerName[]).filter((n) => needs.has(n));
  const [started, clients] = await Promise.all([
    Promise.all(names.map((n) => spawnChild(n, serverFile, { env: serverEnv[n], ...(n === "api" ? {} : { nodeFlags: ["--expose-gc"] }) }))),
    Promise.all(Array.from({ length: needs.has("clients") ? CLIENTS : 0 }, (_, k) => spawnChild(`client${k + 1}`, join(__dirname, "lib/client-proc.ts"), { env: { BENCH_LOCAL_ADDRESS: `127.0.0.${k + 2}` } }))),
  ]);
  const servers = new Map<ServerName, Child>(names.map((n, i) => [n, started[i]!]));
  log(`started ${names.join(", ")} and ${clients.length} load generators`);

  const ctx: BenchContext = {
    options,
    database,
    redis,
    tokens,
    env,
    serverFile,
    server(name) {
      const s = servers.get(name);
      if (!s) throw new Error(`${name} is not running (a phase's \`needs\` must name it)`);
      return s;
    },
    clients,
    load,
    row: (id, figures) => void results.rows.push({ id, figures }),
    details: results.details,
    log,
    async commits() {
      const { rows } = await sql<{ n: string }>`select xact_commit::text as n from pg_stat_database where datname = current_database()`.execute(database.db);
      return Number(rows[0]?.n ?? 0);
    },
    profileDir,
    guard,
  };

  // Each phase: who used the CPU meanwhile (the machine may be shared: other processes are counted).
  const phaseCpu: Record<string, CpuUse | null> = {};
  results.details.cpu = phaseCpu;
  for (const phase of chosen) {
    const keep = phase.alone;
    if (keep) {
      const others = [...servers].filter(([n]) => !keep.includes(n));
      for (const [n] of others) servers.delete(n);
      await Promise.all(others.map(([, c]) => c.stop()));
    }
    const before = cpuSnapshot();
    try {
      await phase.run(ctx);
    } catch (err) {
      const msg = `${phase.name}: ${(err as Error).message}`;
      results.errors.push(msg);
      log(`FAILED ${msg}`);
    }
    phaseCpu[phase.name] = cpuUse(before, cpuSnapshot());
    log(`${phase.name}: ${cpuText(phaseCpu[phase.name] ?? null)}`);
  }

  await cleanup();
  clearTimeout(watchdog);
  report(results, { dir: RESULTS, only, profile: options.profile, t0, cpu0 });
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAll();
    void cleanup().finally(() => process.exit(130));
  });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await cleanup();
  process.exit(1);
});

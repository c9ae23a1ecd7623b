import { parseDuration } from "../../shared/duration";
/**
 * What `npm run bench -- …` was asked for: the flags and the bench's environment variables, read
 * once here and handed to every phase in its context (bench/README.md lists them).
 */
export interface BenchOptions {
  /** `--only=a,b`: the phases (or their other names, `attack`) to run; every phase without it. */
  only: string[] | undefined;
  /** `--profile`: V8 CPU profiles into bench/results/prof (handshake rounds, presence, stored, fan-out). */
  profile: boolean;
  /** `--max=N`: the memory phase's capacity steps stop at N connections, without the hold. */
  max: number;
  /** `--rounds=N`: the soak's rounds (default 50). */
  rounds: number;
  /**
   * BENCH_PERF_WINDOWS=<file>: each measured handshake round's window is appended to it as
   * `<phase> <server> <start ns> <end ns>` (CLOCK_MONOTONIC), to cut a `perf record -k CLOCK_MONOTONIC`
   * of a server process down to the rounds (the servers' Node flags: BENCH_NODE_FLAGS, lib/ipc.ts).
   */
  perfWindows: string | undefined;
  /** BENCH_LOG_DIR: the gateway children log there (the cluster phase summarizes their logs). */
  logDir: string | undefined;
  /** BENCH_HEAP_SNAPSHOTS=<dir>: the memory phase writes each server's heap snapshot there at its baseline and at its last step (bench/heap-diff.ts). */
  heapSnapshots: string | undefined;
  /** BENCH_DIST_DIR: our servers run this build of dist/ (lib/server-proc.ts), and none is made. */
  distDir: string | undefined;
  /** ATTACK_JOINS: the flood's chat:join count (default 5000). */
  attackJoins: number;
  fanout: {
    /** FANOUT_ROOMS=10,100: the one-gateway room sizes (default 10, 100, 1000); FANOUT_ROOMS=0: none (the quiet rates alone, with FANOUT_THREE=0). */
    rooms: number[] | undefined;
    /** FANOUT_THREE=0 leaves the 3-gateway case out. */
    three: boolean;
    /** FANOUT_SMALL_SOCKETS: small rooms side by side until they hold this many sockets (default 480). */
    smallRoomSockets: number;
    /** FANOUT_PROFILE=<room>:<msg/s>: the case --profile runs (default a room of 100 at 100 msg/s). */
    profileRoom: number | undefined;
    profileRate: number | undefined;
    /** FANOUT_QUIET=0 leaves the quiet rates (rooms of 20 at 10, 100, 1,000 msg/s) out. */
    quiet: boolean;
  };
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Readonly<BenchOptions> {
  const flag = (name: string) => argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  const value = (name: string) => flag(name)?.split("=")[1];
  const [profileRoom, profileRate] = env.FANOUT_PROFILE?.split(":").map(Number) ?? [];
  return Object.freeze({
    only: value("only")?.split(","),
    profile: flag("profile") !== undefined,
    max: Number(value("max") ?? Infinity),
    rounds: Number(value("rounds") ?? 50),
    perfWindows: env.BENCH_PERF_WINDOWS,
    logDir: env.BENCH_LOG_DIR,
    heapSnapshots: env.BENCH_HEAP_SNAPSHOTS,
    distDir: env.BENCH_DIST_DIR,
    attackJoins: Number(env.ATTACK_JOINS ?? 5_000),
    fanout: {
      rooms: env.FANOUT_ROOMS?.split(",").map(Number).filter((n) => n > 0),
      three: env.FANOUT_THREE !== "0",
      smallRoomSockets: Number(env.FANOUT_SMALL_SOCKETS ?? 480),
      profileRoom,
      profileRate,
      quiet: env.FANOUT_QUIET !== "0",
    },
  });
}

/** Our gateways' ping interval (s): SOCKET_PING_INTERVAL, which the bench passes to them (lib/server-proc.ts), else Socket.IO's 25; the bare servers keep 25. */
export const oursPingIntervalS = (env: NodeJS.ProcessEnv = process.env): number => parseDuration(env.SOCKET_PING_INTERVAL ?? "25s") ?? 25;

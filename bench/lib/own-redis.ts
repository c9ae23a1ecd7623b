import type { BenchContext } from "./context";
import { type Child, spawnChild } from "./ipc";
import { startRedisServer } from "./redis-server";

/** Starts a child that is stopped with the phase's others. */
export type SpawnTracked = (name: string, file: string, env: Record<string, string>) => Promise<Child>;

/**
 * A phase's own redis-server, and the children it starts: `body` gets the environment that points
 * our servers at that Redis, a spawn that tracks what it starts, and `track` for children started
 * otherwise. Every tracked child and the Redis stop when `body` ends, or with the run if it is cut short.
 */
export async function withOwnRedis(ctx: BenchContext, body: (env: Record<string, string>, spawn: SpawnTracked, track: (c: Child) => void) => Promise<void>): Promise<void> {
  const own = await startRedisServer();
  const release = ctx.guard(() => own.stop());
  const started: Child[] = [];
  try {
    const spawn: SpawnTracked = async (name, file, env) => {
      const c = await spawnChild(name, file, { env });
      started.push(c);
      return c;
    };
    await body({ ...ctx.env, BENCH_REDIS_URL: own.url }, spawn, (c) => started.push(c));
  } finally {
    await Promise.all(started.map((c) => c.stop()));
    await own.stop();
    release();
  }
}

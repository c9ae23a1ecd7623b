/**
 * A process that holds a gateway's presence probes and does nothing else (redis-presence.test.ts
 * stops it with SIGSTOP, as a stalled event loop, and kills it with SIGKILL, as a crash).
 * Env: REDIS_URL, GATEWAY.
 */
import { Redis } from "ioredis";
import { RedisPresence } from "../../shared/presence/redis-presence";

new RedisPresence(new Redis(process.env.REDIS_URL!)).stayAlive(process.env.GATEWAY!);

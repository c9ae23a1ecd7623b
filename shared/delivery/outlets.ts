import { createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import type { Logger } from "pino";
import { Server } from "socket.io";
import type { ServerToClientEvents } from "../contract/events";
import type { Cluster, Redis } from "../redis/clients";
import { CHANNEL_PREFIX, guarded } from "./channels";
import type { MessageOutlet, OutletTarget } from "./publish";

/** An outlet and what closes it (the Redis clients stay the caller's). */
export interface ApiOutlet {
  outlet: MessageOutlet;
  close(): Promise<void>;
}

function warnOnce(logger: Logger) {
  const log = logger.child({ module: "delivery" });
  let warned = false;
  return {
    failed(command: string, err: Error) {
      if (!warned) log.warn({ command, err: err.message }, "publishing to the gateways failed: a message posted now reaches them by their replay or a catch-up");
      warned = true;
    },
    ok() {
      warned = false;
    },
  };
}

/**
 * An api replica on one Redis: `@socket.io/redis-emitter`, which publishes in the classic
 * adapter's own format on its channels and subscribes to nothing (a Socket.IO server here would
 * receive every room's traffic through the adapter's pattern subscription, to discard it).
 */
export function emitterOutlet(pub: Redis, logger: Logger): ApiOutlet {
  const warn = warnOnce(logger);
  pub.on("ready", warn.ok);
  const emitter = new Emitter<ServerToClientEvents>(guarded(pub, warn.failed), { key: CHANNEL_PREFIX });
  return {
    outlet: emitter,
    async close() {
      pub.off("ready", warn.ok);
    },
  };
}

/**
 * An api replica on a Redis Cluster: the emitter speaks only the classic adapter's format
 * (socket.io-redis-emitter#127), so a Socket.IO server with no HTTP server and no sockets, on the
 * sharded adapter, publishes through the adapter's own API. In dynamic mode a room's broadcast goes
 * to that room's channel by SPUBLISH; the server subscribes only its namespace's own channel, no
 * room's.
 */
export function shardedOutlet(pub: Cluster, sub: Cluster, logger: Logger): ApiOutlet {
  const warn = warnOnce(logger);
  const io = new Server<Record<string, never>, ServerToClientEvents>();
  io.adapter(createShardedAdapter(guarded(pub, warn.failed), guarded(sub, warn.failed), { channelPrefix: CHANNEL_PREFIX, subscriptionMode: "dynamic" }));
  return {
    outlet: io,
    async close() {
      await Promise.resolve(io.of("/").adapter.close()).catch(() => undefined);
    },
  };
}

/**
 * An outlet whose target comes later: npm start's one process makes its api before the gateway
 * that will carry its messages (the gateway attaches to the api's HTTP server). Until attached, a
 * message is left to the catch-up (no socket can be connected before the gateway exists).
 */
export function lateOutlet(): MessageOutlet & { attach(target: MessageOutlet): void } {
  let target: MessageOutlet | undefined;
  const nobody: OutletTarget = { emit: () => false, except: () => nobody };
  return {
    attach(next) {
      target = next;
    },
    to(room) {
      return target ? target.to(room) : nobody;
    },
  };
}

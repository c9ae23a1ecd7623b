/**
 * What a phase gets from the runner (bench/run.ts): the run's options, its database and Redis,
 * the token signer, the servers and load generators started for it, and the sinks for its rows,
 * details and log. A phase keeps no state of its own between runs: everything is in here.
 */
import type { TokenSigner } from "../../shared/auth/tokens";
import type { Child } from "./ipc";
import type { LoadItem } from "./load";
import type { BenchOptions } from "./options";
import type { RedisServer } from "./redis-server";
import type { RowSink } from "./results";
import type { BenchDatabase } from "./setup";

/** The servers the runner may start for the phases (each in its own process, lib/server-proc.ts). */
export type ServerName = "gw1" | "gw2" | "gw3" | "bare" | "api";

/** What a phase needs started: servers, the 4 load generators, the 20,000 seeded load sessions. */
export type Need = ServerName | "clients" | "load";

export interface BenchContext {
  options: Readonly<BenchOptions>;
  database: BenchDatabase;
  /** The bench's redis-server (our servers' Redis unless a phase starts its own). */
  redis: RedisServer;
  /** Signs tokens as the api does (ES256); the gateways hold the public key. */
  tokens: TokenSigner;
  /** The environment every server of ours gets: the database, Redis and the token keys. */
  env: Record<string, string>;
  /** lib/server-proc.ts: a phase that spawns servers of its own forks this. */
  serverFile: string;
  /** A server the runner started (the phase's `needs`); throws if it was not. */
  server(name: ServerName): Child;
  /** The load generators (lib/client-proc.ts), one loopback source address each; empty unless needed. */
  clients: Child[];
  /** The load sessions (20,000 users in 200 chats); empty unless needed. */
  load: LoadItem[];
  row: RowSink;
  /** bench/results/latest.json's `details`: what the capacity model and later readers take. */
  details: Record<string, unknown>;
  log(msg: string): void;
  /** Transactions committed in the bench database so far (statistics flushed about once a second). */
  commits(): Promise<number>;
  /** With --profile: bench/results/prof (made); otherwise undefined. */
  profileDir: string | undefined;
  /** Something to stop if the run is cut short (a Redis of the phase's own); returns its release, for when the phase stopped it. */
  guard(stop: () => Promise<void>): () => void;
}

export interface Phase {
  /** Its `--only=` name (and its name in the CPU-by-phase list). */
  name: string;
  /** Other `--only=` names that select it (`attack` for both attacks). */
  also?: string[];
  needs: Need[];
  /**
   * The servers it leaves running: every other one the runner started is stopped before it (for
   * good), so that it has the cores (the soak and the attacks keep gw1; the fan-out none).
   */
  alone?: ServerName[];
  /** Runs only when `--only=` names it, never in a full run (the scale phase). */
  onlyWhenAsked?: boolean;
  /** Time it adds to the run's deadline (bench/run.ts), for a phase longer than the usual run. */
  extraTimeMs?: number;
  run(ctx: BenchContext): Promise<void>;
}

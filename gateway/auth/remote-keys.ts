import type { Logger } from "pino";
import { type KeySource, keysFromJwks, type TokenKey } from "../../shared/auth/keys";

export interface RemoteKeysOptions {
  /** The api's `/.well-known/jwks.json`. */
  url: string;
  logger: Logger;
  /** A token with an unknown `kid` refetches at most this often. Default 30 s. */
  minRefetchMs?: number;
  /** The keys are fetched again this often anyway (a key the api publishes ahead of signing with it arrives). Default 5 min. */
  refreshMs?: number;
  /** One fetch's time limit. Default 5 s. */
  timeoutMs?: number;
}

/**
 * The api's public keys, fetched from its JWKS and cached: a gateway verifies tokens with them
 * and holds no signing key. Fetched at start (again every few seconds until it has keys),
 * every `refreshMs`, and when a token names a `kid` not seen yet, but never more than once per
 * `minRefetchMs` for that reason, so tokens with made-up `kid`s cannot drive requests to the
 * api. A failed fetch keeps the keys already held.
 */
export class RemoteKeys implements KeySource {
  private byKid = new Map<string, TokenKey>();
  private loaded = false;
  private lastUnknownFetch = 0;
  private inFlight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly expected = new Set<string>();
  private expecting = false;
  private readonly log: Logger;
  private readonly minRefetchMs: number;
  private readonly refreshMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: RemoteKeysOptions) {
    this.log = options.logger.child({ module: "gateway:keys" });
    this.minRefetchMs = options.minRefetchMs ?? 30_000;
    this.refreshMs = options.refreshMs ?? 300_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Starts fetching (in the background; handshakes that come first wait for it or get `unavailable`). */
  start(): void {
    void this.cycle(0);
  }

  get ready(): boolean {
    return this.loaded;
  }

  get size(): number {
    return this.byKid.size;
  }

  get(kid: string): TokenKey | undefined {
    return this.byKid.get(kid);
  }

  async refresh(): Promise<"changed" | "unchanged" | "never"> {
    if (this.inFlight) {
      const changed = await this.inFlight;
      return changed ? "changed" : this.loaded ? "unchanged" : "never";
    }
    if (Date.now() - this.lastUnknownFetch < this.minRefetchMs) return this.loaded ? "unchanged" : "never";
    this.lastUnknownFetch = Date.now();
    const changed = await this.fetchOnce();
    return changed ? "changed" : this.loaded ? "unchanged" : "never";
  }

  /**
   * An api replica says it publishes these ids (a control event): fetch until every one is held,
   * a few times over some seconds (the fetch may reach a replica that has not restarted yet).
   * Not bound by `minRefetchMs`: only the api can send this, and it names ids, not keys.
   */
  expect(kids: readonly string[]): void {
    for (const kid of kids) if (!this.byKid.has(kid)) this.expected.add(kid);
    if (this.expected.size === 0 || this.expecting) return;
    this.expecting = true;
    void (async () => {
      for (let attempt = 0; attempt < 8 && !this.closed; attempt += 1) {
        await this.fetchOnce();
        for (const kid of this.expected) if (this.byKid.has(kid)) this.expected.delete(kid);
        if (this.expected.size === 0) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5_000)).unref());
      }
      if (this.expected.size > 0) this.log.warn({ kids: [...this.expected] }, "the JWKS still lacks key ids an api replica announced");
      this.expected.clear();
      this.expecting = false;
    })();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Fetches now, then schedules the next: soon while nothing was ever loaded, else every `refreshMs`. */
  private async cycle(failures: number): Promise<void> {
    if (this.closed) return;
    const ok = (await this.fetchOnce()) || this.loaded;
    if (this.closed) return;
    const next = ok ? this.refreshMs : Math.min(1_000 * 2 ** failures, this.minRefetchMs);
    this.timer = setTimeout(() => void this.cycle(ok ? 0 : failures + 1), next);
    this.timer.unref();
  }

  /** One fetch (joined by concurrent callers); true when the key set changed. */
  private fetchOnce(): Promise<boolean> {
    this.inFlight ??= this.fetchKeys().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchKeys(): Promise<boolean> {
    try {
      const res = await fetch(this.options.url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: "application/json" } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const { keys, skipped } = keysFromJwks(await res.json());
      if (skipped.length > 0) this.log.warn({ skipped }, "skipped JWKS keys that are not ES256 signing keys");
      if (keys.length === 0) throw new Error("the JWK Set holds no ES256 key");
      const next = new Map(keys.map((k) => [k.kid, k]));
      const changed = next.size !== this.byKid.size || keys.some((k) => !this.byKid.has(k.kid));
      if (changed) this.log.info({ kids: [...next.keys()] }, "token keys loaded from the JWKS");
      this.byKid = next;
      this.loaded = true;
      return changed;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, url: this.options.url }, "fetching the JWKS failed; keeping the keys held");
      return false;
    }
  }
}

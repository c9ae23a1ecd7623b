/**
 * A small typed event emitter: Node's `events` module is not in browsers, and socket.io-client's
 * emitter is typed for its own events. A throwing listener must not stop the others or the client.
 */
type Listener = (...args: any[]) => void;

export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        // An app's bug in one listener must not break delivery to the others or our own state. It is
        // reported as an uncaught error would be (reportError in browsers and Node 22; a throw
        // from a timer, which ends a Node 20 process as any uncaught error does, otherwise).
        const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
        if (report) report(err);
        else
          setTimeout(() => {
            throw err;
          });
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

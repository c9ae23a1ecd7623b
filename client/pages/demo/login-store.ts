/**
 * Where the demo page keeps its login: one for all its tabs. A refresh token is spent on use and
 * presenting it again revokes the session; a login kept per tab (sessionStorage) was copied into
 * every duplicated tab, each copy refreshed on its own, and the second refresh ended the session.
 * The client's TokenStore makes the tabs refresh in turn, each starting from what the last one saved.
 */
import type { StoredTokens, TokenStore } from "../../index";

const NAME = "ws-auth-cluster.demo.login";
/** The per-tab login of older versions of the page, and of browsers without what sharing needs. */
const TAB_KEY = "ws-auth-cluster.demo.tokens";

export function loginStore(): TokenStore {
  // Web Locks exist only in secure contexts (https, localhost).
  const shared = typeof navigator.locks?.request === "function" && typeof indexedDB !== "undefined" && typeof BroadcastChannel !== "undefined";
  return shared ? sharedStore() : tabStore();
}

/**
 * IndexedDB, not localStorage: a tab may read its own stale copy of localStorage after another tab
 * wrote it (the HTML spec leaves that to browsers, and Chromium caches it per process), while an
 * IndexedDB transaction begun after the lock was granted sees every commit made before it was released.
 * A BroadcastChannel tells the other tabs to look again, so they follow new tokens and logouts.
 */
function sharedStore(): TokenStore {
  const channel = new BroadcastChannel(NAME);
  const db = new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open(NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("login");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  /** One request in a transaction, answered once the transaction committed. */
  const run = async (mode: IDBTransactionMode, request: (store: IDBObjectStore) => IDBRequest): Promise<unknown> => {
    const tx = (await db).transaction("login", mode);
    const req = request(tx.objectStore("login"));
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  };
  return {
    load: async () => ((await run("readonly", (s) => s.get("tokens"))) as StoredTokens | undefined) ?? null,
    async save(tokens) {
      await run("readwrite", (s) => (tokens ? s.put(tokens, "tokens") : s.delete("tokens")));
      channel.postMessage("saved");
    },
    lock: async (fn) => await navigator.locks.request(NAME, fn),
    subscribe: (fn) => channel.addEventListener("message", fn),
  };
}

/** Without Web Locks the tabs could not take turns: each keeps its own login, as before. */
function tabStore(): TokenStore {
  return {
    load() {
      try {
        return JSON.parse(sessionStorage.getItem(TAB_KEY) ?? "null") as StoredTokens | null;
      } catch {
        return null;
      }
    },
    save: (tokens) => (tokens ? sessionStorage.setItem(TAB_KEY, JSON.stringify(tokens)) : sessionStorage.removeItem(TAB_KEY)),
    lock: (fn) => fn(),
  };
}

/**
 * A webhook receiver for the bench (phase `webhooks`), in its own process: a plain Node HTTP
 * server on 127.0.0.1 that answers every POST with 200 at once and counts what came, per path (each
 * endpoint the phase registers has a path of its own). It reads each body to check the per-chat
 * order of `message.created` (a cheap JSON.parse) and keeps the first delivery's headers and body,
 * whose Standard Webhooks signature the phase verifies with the endpoint's secret. Commands over IPC:
 * `seen {path}` (counts, first and last arrival, Date.now() ms), `stop`.
 */
import { createServer } from "node:http";
import { serve } from "./ipc";
import { listen } from "../../shared/process";

export interface ReceiverSeen {
  /** Requests answered on the path. */
  count: number;
  /** Distinct webhook-id headers among them (fewer than `count`: an event delivered twice). */
  distinct: number;
  /** message.created deliveries whose message id was not above the last one of its chat (per-chat order broken). */
  outOfOrder: number;
  /** Date.now() when the first and the last delivery were read in full. */
  first: number | null;
  last: number | null;
  /** The first delivery as it came: the phase verifies its signature. */
  sample: { headers: Record<string, string>; body: string } | null;
}

interface PathState extends Omit<ReceiverSeen, "distinct"> {
  ids: Set<string>;
  lastOfChat: Map<string, bigint>;
}

const paths = new Map<string, PathState>();
const stateOf = (path: string): PathState => {
  let s = paths.get(path);
  if (!s) paths.set(path, (s = { count: 0, ids: new Set(), outOfOrder: 0, lastOfChat: new Map(), first: null, last: null, sample: null }));
  return s;
};

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const at = Date.now();
    const body = Buffer.concat(chunks).toString("utf8");
    const s = stateOf(req.url ?? "/");
    s.count += 1;
    s.ids.add(String(req.headers["webhook-id"]));
    s.first ??= at;
    s.last = at;
    if (!s.sample) {
      const h = (name: string) => String(req.headers[name] ?? "");
      s.sample = { headers: { "webhook-id": h("webhook-id"), "webhook-timestamp": h("webhook-timestamp"), "webhook-signature": h("webhook-signature") }, body };
    }
    try {
      const event = JSON.parse(body) as { type?: string; data?: { message?: { id?: string; chat_id?: string } | null } };
      const m = event.data?.message;
      if (event.type === "message.created" && m?.id && m.chat_id) {
        const id = BigInt(m.id);
        if (id <= (s.lastOfChat.get(m.chat_id) ?? -1n)) s.outOfOrder += 1;
        else s.lastOfChat.set(m.chat_id, id);
      }
    } catch {
      // Not JSON: counted, not ordered.
    }
    res.writeHead(200, { "content-type": "text/plain", "content-length": 2 });
    res.end("ok");
  });
});

async function main(): Promise<void> {
  const port = await listen(server, 0, "127.0.0.1");
  serve(
    {
      seen(args: { path: string }): ReceiverSeen {
        const s = stateOf(args.path);
        return { count: s.count, distinct: s.ids.size, outOfOrder: s.outOfOrder, first: s.first, last: s.last, sample: s.sample };
      },
    },
    async () => {
      server.closeAllConnections();
      server.close();
    },
  );
  process.send?.({ ready: true, info: { port, url: `http://127.0.0.1:${port}`, pid: process.pid } });
}

main().catch((err: unknown) => {
  process.stderr.write(`webhook-receiver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

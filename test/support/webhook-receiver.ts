import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { Webhook } from "standardwebhooks";

/** One delivery as the receiver got it, verified with the standardwebhooks package. */
export interface Received {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
  verified: boolean;
  headers: IncomingHttpHeaders;
}

/**
 * A real HTTP receiver on loopback: it records each POST after verifying its signature with the
 * endpoint's secret (set once the endpoint is registered), and answers as `answer` says (200 by
 * default; a status, or "hang" to never answer).
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Attempts of every kind (failed ones included), by webhook-id. */
  readonly attempts = new Map<string, number>();
  secret = "";
  answer: number | "hang" = 200;
  /** Each answer waits this long (deliveries stay in flight a while). */
  delayMs = 0;
  private readonly server: Server;
  private readonly hanging = new Set<() => void>();
  url = "";

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        const id = String(req.headers["webhook-id"]);
        this.attempts.set(id, (this.attempts.get(id) ?? 0) + 1);
        if (this.answer === "hang") {
          this.hanging.add(() => res.destroy());
          return;
        }
        if (this.delayMs > 0) {
          setTimeout(() => this.respond(id, body, req.headers, res), this.delayMs);
          return;
        }
        this.respond(id, body, req.headers, res);
      });
    });
  }

  /** Records a delivery that is answered 2xx (after verifying it), and answers. */
  private respond(id: string, body: string, headers: IncomingHttpHeaders, res: ServerResponse): void {
    const answer = this.answer === "hang" ? 200 : this.answer;
    if (answer >= 200 && answer < 300) {
      let verified = false;
      try {
        new Webhook(this.secret).verify(body, headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const parsed = JSON.parse(body) as { type: string; timestamp: string; data: Record<string, unknown> };
      this.received.push({ id, ...parsed, verified, headers });
    }
    res.writeHead(answer, answer >= 300 && answer < 400 ? { location: "http://127.0.0.1:1/elsewhere" } : {}).end("ok");
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;
    return this;
  }

  of(type: string): Received[] {
    return this.received.filter((r) => r.type === type);
  }

  async stop(): Promise<void> {
    for (const end of this.hanging) end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

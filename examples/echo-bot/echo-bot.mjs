// An echo bot: receives `message.created` webhooks and answers each message in its chat with
// "echo: <text>" through the server API. Plain Node, no build step; see README.md.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const PORT = Number(process.env.ECHO_BOT_PORT ?? 4000);
const API_URL = (process.env.API_URL ?? "http://localhost:3000").replace(/\/+$/, "");
const { SERVER_KEY, WEBHOOK_SECRET } = process.env;
if (!SERVER_KEY || !WEBHOOK_SECRET) throw new Error("set SERVER_KEY (wsk_…, scope publish) and WEBHOOK_SECRET (whsec_…)");
const SYSTEM_USER = "00000000-0000-0000-0000-000000000000"; // who the bot's own answers come from
const webhook = new Webhook(WEBHOOK_SECRET);

/** Posts the answer; the webhook-id as idempotency key, so a redelivery does not answer twice. */
async function reply(message, webhookId) {
  const res = await fetch(`${API_URL}/server/v1/chats/${message.chat_id}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${SERVER_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ text: `echo: ${message.text}`.slice(0, 4000), idempotency_key: webhookId }),
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`reply to ${message.id} failed: ${res.status} ${await res.text()}`);
}

async function handle(req, body) {
  if (req.method !== "POST") return 405;
  let event;
  try {
    event = webhook.verify(body, req.headers); // checks webhook-signature and the timestamp's age
  } catch {
    return 401;
  }
  const message = event.type === "message.created" ? event.data?.message : undefined;
  if (!message || message.sender.id === SYSTEM_USER) return 204; // not ours to answer (or our own echo)
  await reply(message, req.headers["webhook-id"]);
  return 204; // 2xx only now: a failed reply is retried by the webhook worker
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size > 1 << 20) req.destroy();
    else chunks.push(c);
  });
  req.on("end", () => {
    handle(req, Buffer.concat(chunks).toString("utf8")).then(
      (status) => res.writeHead(status).end(),
      (err) => {
        console.error(err.message);
        res.writeHead(502).end();
      },
    );
  });
});
server.listen(PORT, () => console.log(`echo bot listening on http://localhost:${PORT}, answering through ${API_URL}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));

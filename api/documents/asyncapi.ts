import { z } from "zod";
import { ackError, ANY_EVENT_ERRORS, type ClientEventName, clientEvents, HANDSHAKE_ERRORS, handshakeErrorData, SOCKET_PATH, serverEvents } from "../../shared/contract/events";
import { LIMITS } from "../../shared/contract/views";

type Json = { [key: string]: unknown };

/** `chat:join` → `chatJoin`: message and operation ids. */
const idOf = (event: string) => event.replace(/[:-](\w)/g, (_, c: string) => c.toUpperCase());

/**
 * A zod schema as JSON Schema draft 7 (AsyncAPI's default schema format); named views (Message,
 * UserRef) go to `components.schemas` and are referenced from there.
 */
function schemaOf(schema: z.ZodType, io: "input" | "output", components: Json): Json {
  const { $schema: _, definitions, ...rest } = z.toJSONSchema(schema, { target: "draft-7", io, unrepresentable: "any" }) as Json;
  const relink = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(relink);
    if (!node || typeof node !== "object") return node;
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? v.replace("#/definitions/", "#/components/schemas/") : relink(v)]),
    );
  };
  for (const [name, def] of Object.entries((definitions ?? {}) as Json)) components[name] ??= relink(def);
  return relink(rest) as Json;
}

/** A schema with its members at hand: a named view (a bare `$ref`) is read from the components. */
function inline(schema: Json, components: Json): Json {
  const ref = typeof schema.$ref === "string" ? /^#\/components\/schemas\/(.+)$/.exec(schema.$ref)?.[1] : undefined;
  return ref ? (components[ref] as Json) : schema;
}

/**
 * AsyncAPI 3 of the Socket.IO gateway, generated from the schemas it parses client payloads with
 * and the server events' schemas (shared/contract/events.ts). The application described is the
 * gateway: it receives client events (each answered through the acknowledgement, the operation's
 * reply) and sends server events.
 */
export function asyncApiDocument(version: string): object {
  const schemas: Json = {};
  const messages: Json = {};
  const operations: Json = {};
  const ref = (name: string) => ({ $ref: `#/channels/socket/messages/${name}` });
  // Named views, each kept under its id in the components: a reference to AckError, and ConnectError.
  const refused = schemaOf(ackError, "output", schemas);
  schemaOf(handshakeErrorData, "output", schemas);

  for (const [event, def] of Object.entries(clientEvents) as [ClientEventName, (typeof clientEvents)[ClientEventName]][]) {
    const id = idOf(event);
    const codes = [...def.errors, ...ANY_EVENT_ERRORS];
    messages[id] = { name: event, title: event, summary: def.summary, contentType: "application/json", payload: schemaOf(def.payload, "input", schemas) };
    // The ok answer is the result's members beside `ok: true`, so a named result is copied in.
    const ok = inline(schemaOf(def.result, "output", schemas), schemas);
    const okProps = (ok.properties ?? {}) as Json;
    messages[`${id}Ack`] = {
      name: `${event} acknowledgement`,
      title: `${event} answer`,
      summary: `The acknowledgement callback's argument. Error codes: ${codes.join(", ")}.`,
      contentType: "application/json",
      payload: {
        oneOf: [
          { ...ok, properties: { ok: { const: true }, ...okProps }, required: ["ok", ...((ok.required as string[]) ?? [])] },
          refused,
        ],
      },
    };
    operations[id] = {
      action: "receive",
      title: event,
      summary: def.summary,
      channel: { $ref: "#/channels/socket" },
      messages: [ref(id)],
      reply: { channel: { $ref: "#/channels/socket" }, messages: [ref(`${id}Ack`)] },
    };
  }
  for (const [event, def] of Object.entries(serverEvents)) {
    const id = idOf(event);
    messages[id] = { name: event, title: event, summary: def.summary, contentType: "application/json", payload: schemaOf(def.payload, "output", schemas) };
    operations[id] = { action: "send", title: event, summary: def.summary, channel: { $ref: "#/channels/socket" }, messages: [ref(id)] };
  }

  return {
    asyncapi: "3.0.0",
    info: {
      title: "ws-auth-cluster Socket.IO gateway",
      version,
      description: [
        `Socket.IO 4 on the Engine.IO path \`${SOCKET_PATH}\`, default namespace: \`io(origin, { path: "${SOCKET_PATH}", auth: { token } })\`.`,
        "The access token is taken from `auth.token`, the `Authorization: Bearer` header, or the `token` query parameter, in that order;",
        "`chat_id` (query or auth) joins that chat on connect. A refused handshake gets `connect_error` (schema ConnectError):",
        Object.entries(HANDSHAKE_ERRORS)
          .map(([code, status]) => `\`${code}\` ${status}`)
          .join(", ") + ".",
        "Every client event takes an acknowledgement callback, answered with `{ok: true, …}` or `{ok: false, error: {code, message}}` (the operation's reply).",
        `Payloads over ${LIMITS.bodyBytes / 1024} KiB are refused; a client that stops reading is disconnected once more than 1 MiB (by default) waits for it.`,
      ].join(" "),
    },
    defaultContentType: "application/json",
    servers: {
      local: {
        host: "localhost:3000",
        pathname: SOCKET_PATH,
        protocol: "ws",
        description: "npm start, or nginx in front of the cluster (WebSocket, or HTTP long-polling upgrading to WebSocket)",
        security: [{ $ref: "#/components/securitySchemes/accessToken" }],
      },
    },
    channels: {
      socket: {
        address: "/",
        title: "The default namespace",
        description: "A connected socket is in the rooms user:<user id>, session:<session id> and chat:<chat id> for each chat joined.",
        messages,
      },
    },
    operations,
    components: {
      schemas,
      securitySchemes: {
        accessToken: { type: "httpApiKey", name: "token", in: "query", description: "The access token from /login; preferably sent as `auth.token` in the Socket.IO handshake" },
      },
    },
  };
}

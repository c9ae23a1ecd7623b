import Ajv2020 from "ajv/dist/2020";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import type { ValidateFunction } from "ajv";

/** JSON pointer escaping of one path segment (`/chats/{id}` → `~1chats~1{id}`). */
const escape = (segment: string) => segment.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * The document with every object schema closed (`additionalProperties: false` unless it says
 * otherwise): a field the server sends but the document does not name fails the check, so the
 * documents cannot fall behind the code. Clients are told nothing of this; they may ignore extras.
 */
function closed<T>(node: T): T {
  if (Array.isArray(node)) return node.map(closed) as T;
  if (!node || typeof node !== "object") return node;
  const copy = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, closed(v)])) as Record<string, unknown>;
  if (copy.type === "object" && copy.properties && !("additionalProperties" in copy)) copy.additionalProperties = false;
  return copy as T;
}

/**
 * Checks real answers against the published documents: HTTP bodies against /openapi.json's
 * response schemas (JSON Schema 2020-12, as OpenAPI 3.1 has it), socket payloads against
 * /asyncapi.json's message payloads (draft 7, AsyncAPI's default).
 */
export class DocumentChecker {
  private readonly http = new Ajv2020({ strict: false, allErrors: true });
  private readonly socket = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  /** What was checked, `GET /chats/{id} 200` or `message:new`: the test asserts coverage from it. */
  readonly checked = new Set<string>();

  constructor(
    readonly openapi: Record<string, any>,
    readonly asyncapi: Record<string, any>,
  ) {
    addFormats(this.http);
    addFormats(this.socket);
    this.http.addSchema({ ...closed(openapi), $id: "openapi" });
    this.socket.addSchema({ ...closed(asyncapi), $id: "asyncapi" });
  }

  private validator(ajv: Ajv | Ajv2020, ref: string): ValidateFunction {
    let fn = this.compiled.get(ref);
    if (!fn) this.compiled.set(ref, (fn = ajv.compile({ $ref: ref })));
    return fn;
  }

  /** Fails unless `body` matches the documented response of `method path` with `status` (path as documented: `/chats/{id}`). */
  httpResponse(method: string, path: string, status: number, contentType: string | null, body: unknown): void {
    const operation = this.openapi.paths?.[path]?.[method.toLowerCase()];
    if (!operation) throw new Error(`${method} ${path} is not documented`);
    const response = operation.responses?.[String(status)];
    if (!response) throw new Error(`${method} ${path} answered ${status}, which is not documented`);
    this.checked.add(`${method.toUpperCase()} ${path} ${status}`);
    if (!response.content) {
      if (body !== undefined && body !== "") throw new Error(`${method} ${path} ${status} is documented without a body`);
      return;
    }
    const media = (contentType ?? "").split(";")[0]!.trim();
    if (!response.content[media]) throw new Error(`${method} ${path} ${status} answered ${media}, documented ${Object.keys(response.content).join(", ")}`);
    const ref = `openapi#/paths/${escape(path)}/${method.toLowerCase()}/responses/${status}/content/${escape(media)}/schema`;
    const validate = this.validator(this.http, ref);
    if (!validate(body)) throw new Error(`${method} ${path} ${status}: ${this.http.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
  }

  /** Fails unless `payload` matches the documented message (`message:new`, or `chat:join` + `Ack` for an answer). */
  socketMessage(messageId: string, payload: unknown, what = messageId): void {
    if (!this.asyncapi.channels?.socket?.messages?.[messageId]) throw new Error(`message ${messageId} is not documented`);
    this.checked.add(what);
    const validate = this.validator(this.socket, `asyncapi#/channels/socket/messages/${escape(messageId)}/payload`);
    if (!validate(payload)) throw new Error(`${what}: ${this.socket.errorsText(validate.errors)}\n${JSON.stringify(payload).slice(0, 500)}`);
  }

  /** Fails unless `value` matches the AsyncAPI document's `components.schemas[name]`. */
  socketComponent(name: string, value: unknown): void {
    this.checked.add(name);
    const validate = this.validator(this.socket, `asyncapi#/components/schemas/${escape(name)}`);
    if (!validate(value)) throw new Error(`${name}: ${this.socket.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`);
  }
}

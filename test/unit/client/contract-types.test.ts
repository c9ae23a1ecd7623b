import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import ts from "typescript";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type { ChatChangeEvent, ChatSocket, ChatSocketEvents, Client, EndReason, InvitePage, StoredTokens } from "../../../client/index";
import * as errors from "../../../shared/contract/errors";
import * as events from "../../../shared/contract/events";
import * as handshake from "../../../shared/contract/handshake";
import * as requests from "../../../shared/contract/requests";
import * as validation from "../../../shared/contract/validation";
import * as views from "../../../shared/contract/views";

/**
 * The typed client takes every wire shape from shared/contract: its types must equal the schemas'
 * inferred types (checked by tsc, which `npm test` runs first), and its source must not spell a
 * wire shape out again (checked here), since a hand-written copy that happens to match today is
 * what drifts tomorrow.
 */
const ROOT = join(__dirname, "../../..");
const CLIENT = join(ROOT, "client");
const clientFiles = readdirSync(CLIENT)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => ({ name: `client/${f}`, source: ts.createSourceFile(f, readFileSync(join(CLIENT, f), "utf8"), ts.ScriptTarget.Latest, true) }));

type Fn<T> = T extends (...args: infer A) => infer R ? { args: A; result: Awaited<R> } : never;
type Payload<E extends keyof typeof events.serverEvents> = z.infer<(typeof events.serverEvents)[E]["payload"]>;

describe("the client's types are the contract's", () => {
  it("socket events it relays carry the server events' payloads", () => {
    expectTypeOf<Parameters<ChatSocketEvents["typing"]>[0]>().toEqualTypeOf<Payload<"typing">>();
    expectTypeOf<Parameters<ChatSocketEvents["presence:join"]>[0]>().toEqualTypeOf<Payload<"presence:join">>();
    expectTypeOf<Parameters<ChatSocketEvents["presence:leave"]>[0]>().toEqualTypeOf<Payload<"presence:leave">>();
    expectTypeOf<Parameters<ChatSocketEvents["presence:count"]>[0]>().toEqualTypeOf<Payload<"presence:count">>();
    expectTypeOf<Parameters<ChatSocketEvents["chat:removed"]>[0]>().toEqualTypeOf<Payload<"chat:removed">>();
    expectTypeOf<Parameters<ChatSocketEvents["message"]>[0]>().toEqualTypeOf<Payload<"message:new">>();
    expectTypeOf<Parameters<ChatSocketEvents["invite:new"]>[0]>().toEqualTypeOf<Payload<"invite:new">>();
    expectTypeOf<Parameters<ChatSocketEvents["chat:added"]>[0]>().toEqualTypeOf<Payload<"chat:added">>();
    expectTypeOf<Parameters<ChatSocketEvents["message:updated"]>[0]>().toEqualTypeOf<Payload<"message:updated">>();
    expectTypeOf<Parameters<ChatSocketEvents["message:deleted"]>[0]>().toEqualTypeOf<Payload<"message:deleted">>();
    expectTypeOf<Parameters<ChatSocketEvents["message:reactions"]>[0]>().toEqualTypeOf<Payload<"message:reactions">>();
    expectTypeOf<Parameters<ChatSocketEvents["message:read"]>[0]>().toEqualTypeOf<Payload<"message:read">>();
    // A catch-up's changes are delivered as these events: each change's payload is its event's.
    type Change = z.infer<typeof views.changeView>;
    expectTypeOf<Extract<Change, { type: "message:updated" }>["data"]>().toEqualTypeOf<Payload<"message:updated">>();
    expectTypeOf<Extract<Change, { type: "message:deleted" }>["data"]>().toEqualTypeOf<Payload<"message:deleted">>();
    expectTypeOf<Extract<Change, { type: "message:reactions" }>["data"]>().toEqualTypeOf<Payload<"message:reactions">>();
    expectTypeOf<Extract<Change, { type: "message:read" }>["data"]>().toEqualTypeOf<Payload<"message:read">>();
    expectTypeOf<ChatChangeEvent>().toEqualTypeOf<Change["type"]>();
    expectTypeOf<Parameters<ChatSocketEvents["refreshed"]>[0]>().toEqualTypeOf<z.infer<(typeof events.clientEvents)["auth:refresh"]["result"]>>();
    expectTypeOf<EndReason>().toEqualTypeOf<z.infer<typeof events.sessionEndReason> | "logged_out">();
  });

  it("socket answers are the events' results", () => {
    expectTypeOf<Fn<ChatSocket["presence"]>["result"]>().toEqualTypeOf<z.infer<(typeof events.clientEvents)["chat:presence"]["result"]>>();
    expectTypeOf<Fn<ChatSocket["presence"]>["result"]>().toEqualTypeOf<views.Answer<"presence">>();
    expectTypeOf<Fn<ChatSocket["send"]>["result"]>().toEqualTypeOf<z.infer<typeof views.messageView>>();
    type Result<E extends keyof typeof events.clientEvents> = z.infer<(typeof events.clientEvents)[E]["result"]>;
    expectTypeOf<Fn<ChatSocket["read"]>["result"]>().toEqualTypeOf<Result<"chat:read">>();
    expectTypeOf<Fn<ChatSocket["read"]>["args"]>().toEqualTypeOf<[chatId: string, messageId: string]>();
    expectTypeOf<Fn<ChatSocket["edit"]>["result"]>().toEqualTypeOf<Result<"message:edit">["message"]>();
    expectTypeOf<Fn<ChatSocket["delete"]>["result"]>().toEqualTypeOf<void>();
    expectTypeOf<Fn<ChatSocket["react"]>["result"]>().toEqualTypeOf<Result<"message:react">>();
    expectTypeOf<Fn<ChatSocket["react"]>["result"]>().toEqualTypeOf<views.Answer<"reactions">>();
    // join's start: the chat:join payload's own members.
    expectTypeOf<NonNullable<Fn<ChatSocket["join"]>["args"][1]>>().toEqualTypeOf<Pick<z.input<(typeof events.clientEvents)["chat:join"]["payload"]>, "after" | "cursor">>();
  });

  it("HTTP calls take the request schemas' types and answer with the views", () => {
    expectTypeOf<Fn<Client["register"]>["args"][0]>().toEqualTypeOf<z.input<typeof requests.registerBody>>();
    expectTypeOf<Fn<Client["register"]>["result"]>().toEqualTypeOf<views.Answer<"user">["user"]>();
    expectTypeOf<Fn<Client["login"]>["args"][0]>().toEqualTypeOf<z.input<typeof requests.loginBody>>();
    expectTypeOf<Fn<Client["login"]>["result"]>().toEqualTypeOf<views.Answer<"login">>();
    expectTypeOf<Fn<Client["changePassword"]>["args"][0]>().toEqualTypeOf<z.input<typeof requests.passwordBody>>();
    expectTypeOf<Fn<Client["sessions"]["list"]>["result"]>().toEqualTypeOf<views.Answer<"sessions">["sessions"]>();
    expectTypeOf<Fn<Client["chats"]["create"]>["args"][0]>().toEqualTypeOf<z.input<typeof requests.createChatBody>>();
    expectTypeOf<Fn<Client["chats"]["list"]>["result"]>().toEqualTypeOf<views.Answer<"chats">["chats"]>();
    expectTypeOf<Fn<Client["chats"]["get"]>["result"]>().toEqualTypeOf<views.Answer<"chatDetail">>();
    expectTypeOf<Fn<Client["chats"]["invite"]>["result"]>().toEqualTypeOf<views.Answer<"invite">["invite"]>();
    expectTypeOf<Fn<Client["chats"]["messages"]>["args"][1]>().toEqualTypeOf<Partial<z.output<typeof requests.historyQuery>> | undefined>();
    expectTypeOf<Fn<Client["chats"]["messages"]>["result"]>().toEqualTypeOf<views.Answer<"messages">["messages"]>();
    expectTypeOf<Fn<Client["chats"]["post"]>["args"][1]>().toEqualTypeOf<z.input<typeof requests.postMessageBody>>();
    expectTypeOf<Fn<Client["chats"]["presence"]>["result"]>().toEqualTypeOf<views.Answer<"presence">>();
    expectTypeOf<Fn<Client["chats"]["list"]>["result"]>().toEqualTypeOf<z.infer<typeof views.chatSummaryView>[]>();
    expectTypeOf<Fn<Client["chats"]["markRead"]>["result"]>().toEqualTypeOf<views.Answer<"readPosition">>();
    expectTypeOf<Fn<Client["chats"]["editMessage"]>["args"][2]>().toEqualTypeOf<z.input<typeof requests.editMessageBody>["text"]>();
    expectTypeOf<Fn<Client["chats"]["editMessage"]>["result"]>().toEqualTypeOf<views.Answer<"message">["message"]>();
    expectTypeOf<Fn<Client["chats"]["deleteMessage"]>["result"]>().toEqualTypeOf<void>();
    expectTypeOf<Fn<Client["chats"]["react"]>["result"]>().toEqualTypeOf<views.Answer<"reactions">>();
    expectTypeOf<Fn<Client["chats"]["react"]>["args"][3]>().toEqualTypeOf<z.input<typeof requests.reactBody>["on"]>();
    expectTypeOf<Fn<Client["chats"]["report"]>["args"][2]>().toEqualTypeOf<z.input<typeof requests.reportBody>["reason"]>();
    expectTypeOf<Fn<Client["chats"]["report"]>["result"]>().toEqualTypeOf<views.Answer<"report">["report"]>();
    expectTypeOf<Fn<Client["chats"]["reports"]>["args"][1]>().toEqualTypeOf<Partial<z.output<typeof requests.reportsQuery>> | undefined>();
    expectTypeOf<Fn<Client["chats"]["reports"]>["result"]>().toEqualTypeOf<views.Answer<"reports">["reports"]>();
    expectTypeOf<Fn<Client["chats"]["resolveReport"]>["args"][2]>().toEqualTypeOf<z.input<typeof requests.resolveReportBody> | undefined>();
    expectTypeOf<Fn<Client["chats"]["resolveReport"]>["result"]>().toEqualTypeOf<views.Answer<"report">["report"]>();
    expectTypeOf<Fn<Client["blocks"]["list"]>["result"]>().toEqualTypeOf<views.Answer<"blocks">["blocks"]>();
    expectTypeOf<Fn<Client["blocks"]["block"]>["result"]>().toEqualTypeOf<views.Answer<"block">["block"]>();
    expectTypeOf<Fn<Client["blocks"]["unblock"]>["result"]>().toEqualTypeOf<void>();
    expectTypeOf<Fn<Client["invites"]["page"]>["args"][0]>().toEqualTypeOf<Partial<z.output<typeof requests.invitesQuery>> | undefined>();
    expectTypeOf<Fn<Client["invites"]["page"]>["result"]>().toEqualTypeOf<views.Answer<"invitePage">>();
    expectTypeOf<InvitePage>().toEqualTypeOf<views.Answer<"invitePage">>();
    expectTypeOf<StoredTokens>().toEqualTypeOf<Pick<views.Answer<"login">, "token" | "refresh_token" | "expires_at" | "session_id" | "user">>();
  });
});

/** Every object shape the contract's schemas hold, nested ones included, as sorted key lists. */
function contractShapes(): Map<string, string> {
  const shapes = new Map<string, string>();
  const seen = new Set<unknown>();
  const walk = (schema: unknown, where: string): void => {
    const def = (schema as { _zod?: { def?: Record<string, any> } })?._zod?.def;
    if (!def || seen.has(schema)) return;
    seen.add(schema);
    if (def.type === "object") {
      const keys = Object.keys(def.shape).sort();
      if (keys.length > 0 && !shapes.has(keys.join(","))) shapes.set(keys.join(","), where);
      for (const [k, v] of Object.entries(def.shape)) walk(v, `${where}.${k}`);
    }
    for (const inner of [def.element, def.innerType, def.in, def.out, def.valueType, ...(def.options ?? [])]) walk(inner, where);
  };
  // Named views first: a shape is reported under the first name it was found by.
  const modules = { views, requests, errors, events, validation };
  for (const [mod, exports] of Object.entries(modules)) {
    for (const [name, value] of Object.entries(exports)) {
      walk(value, `${mod}.${name}`);
      if (value && typeof value === "object" && !("_zod" in value)) {
        for (const [key, entry] of Object.entries(value)) {
          walk(entry, `${mod}.${name}.${key}`);
          for (const part of ["payload", "result"] as const) walk((entry as Record<string, unknown>)?.[part], `${mod}.${name}["${key}"].${part}`);
        }
      }
    }
  }
  return shapes;
}

/** Shapes of the client's own whose members happen to match a contract shape's, each with its reason. */
const OWN_SHAPES: Record<string, string> = {
  // `ended`'s info: session:ended's reasons plus the client's own "logged_out".
  reason: "the client's `ended` event",
};

/** The members of every interface and object type literal the client declares. */
function declaredShapes(): { file: string; line: number; keys: string[] }[] {
  const found: { file: string; line: number; keys: string[] }[] = [];
  for (const { name, source } of clientFiles) {
    const visit = (node: ts.Node): void => {
      if (ts.isInterfaceDeclaration(node) || ts.isTypeLiteralNode(node)) {
        const keys = node.members.flatMap((m) => (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? [m.name.text] : []));
        found.push({ file: name, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, keys });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe("the client's source spells no wire shape out again", () => {
  it("declares no object type whose members are a contract shape's", () => {
    const shapes = contractShapes();
    // The walk must reach the views, the events' payloads and results, and the request bodies.
    for (const probe of ["chat_id,user", "expires_at", "chat_id,count,users", "has_more,invites", "code,status", "password,username"]) expect([probe, shapes.has(probe)]).toEqual([probe, true]);
    const copies = declaredShapes()
      .filter(({ keys }) => keys.length > 0)
      .map((s) => ({ ...s, key: [...s.keys].sort().join(",") }))
      .filter(({ key }) => shapes.has(key) && !(key in OWN_SHAPES))
      .map(({ file, line, key }) => `${file}:${line} {${key}} is ${shapes.get(key)}: take it from shared/contract`);
    expect(copies).toEqual([]);
  });

  it("declares no member named as a wire field (snake_case): those come with the contract's types", () => {
    const wire = declaredShapes().flatMap(({ file, line, keys }) => keys.filter((k) => /_/.test(k)).map((k) => `${file}:${line} ${k}`));
    expect(wire).toEqual([]);
  });

  it("declares no type under a name the contract exports", () => {
    const contractNames = new Set([errors, events, handshake, requests, validation, views].flatMap((m) => Object.keys(m)));
    // Type-only exports leave no runtime name: read them from the contract's source.
    for (const file of readdirSync(join(ROOT, "shared/contract"))) {
      for (const m of readFileSync(join(ROOT, "shared/contract", file), "utf8").matchAll(/export (?:type|interface) (\w+)/g)) contractNames.add(m[1]!);
    }
    const clashes = clientFiles.flatMap(({ name, source }) =>
      source.statements
        .filter((s): s is ts.InterfaceDeclaration | ts.TypeAliasDeclaration => ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s))
        .filter((s) => contractNames.has(s.name.text))
        .map((s) => `${name}: ${s.name.text}`),
    );
    expect(clashes).toEqual([]);
  });

  it("imports the contract as types only, but for the socket path from its module without zod", () => {
    const valueImports = clientFiles.flatMap(({ name, source }) =>
      source.statements
        .filter(ts.isImportDeclaration)
        .filter((s) => ts.isStringLiteral(s.moduleSpecifier) && s.moduleSpecifier.text.includes("shared/"))
        .filter((s) => !s.importClause?.isTypeOnly && s.importClause?.namedBindings && ts.isNamedImports(s.importClause.namedBindings) && s.importClause.namedBindings.elements.some((e) => !e.isTypeOnly))
        .map((s) => `${name}: ${(s.moduleSpecifier as ts.StringLiteral).text}`),
    );
    expect(valueImports).toEqual(["client/connection.ts: ../shared/contract/handshake"]);
    expect(Object.keys(handshake).sort()).toEqual(["HANDSHAKE_ERRORS", "SOCKET_PATH", "isHandshakeErrorCode"]);
    expect(events.SOCKET_PATH).toBe(handshake.SOCKET_PATH);
  });

  it("bundles for the browser without zod or any other contract module", async () => {
    const result = await build({ entryPoints: [join(CLIENT, "index.ts")], bundle: true, platform: "browser", format: "iife", write: false, metafile: true, logLevel: "silent", absWorkingDir: ROOT });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => /node_modules\/zod\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => f.startsWith("shared/"))).toEqual(["shared/contract/handshake.ts"]);
  });
});

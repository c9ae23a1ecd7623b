import { z } from "zod";
import type { FieldError } from "./errors";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Message ids are positive bigints (PostgreSQL's identity sequence) written in decimal: no sign, no
 * leading zero, at most 19 digits. The documents publish this pattern; the bigint's upper bound,
 * which a pattern cannot say, is checked by `isMessageId`.
 */
const MESSAGE_ID_PATTERN = "^[1-9][0-9]{0,18}$";
const MESSAGE_ID_RE = new RegExp(MESSAGE_ID_PATTERN);
const BIGINT_MAX = 9_223_372_036_854_775_807n;

export const isUuid = (v: unknown): v is string => typeof v === "string" && UUID_RE.test(v);
export const isMessageId = (v: unknown): v is string => typeof v === "string" && MESSAGE_ID_RE.test(v) && BigInt(v) <= BIGINT_MAX;

/**
 * A string PostgreSQL can store and people can read: no NUL, no lone UTF-16 surrogate, and a
 * length counted in code points (what a user calls characters), not UTF-16 units.
 */
export const text = (min: number, max: number) =>
  z.string().superRefine((v, ctx) => {
    if (v.includes("\u0000")) ctx.addIssue({ code: "custom", message: "must not contain NUL characters" });
    else if (!v.isWellFormed()) ctx.addIssue({ code: "custom", message: "must be well-formed Unicode" });
    else {
      const length = [...v].length;
      if (length < min || length > max) ctx.addIssue({ code: "custom", message: `must be ${min} to ${max} characters long` });
    }
  }).meta({ minLength: min, maxLength: max });

/** A UUID, lower-cased: ids name rooms and map keys, where `ABC…` and `abc…` must be one. */
export const uuid = z
  .string()
  .refine(isUuid, { message: "must be a UUID" })
  .meta({ format: "uuid" })
  .transform((v) => v.toLowerCase());

export const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
export const username = z.string().regex(USERNAME_RE, "must be 3 to 32 characters of A-Z a-z 0-9 _ . -");
/** A message id, in a request and in a view alike: later messages have larger ids. */
export const messageId = z
  .string()
  .refine(isMessageId, { message: "must be a message id (a decimal string)" })
  .meta({ pattern: MESSAGE_ID_PATTERN, description: "A message id: a positive bigint in decimal; later messages have larger ids" });

/** Flattens zod issues into the contract's `errors` list. */
export function fieldIssues(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") return { field: issue.keys.join(","), message: "is not an allowed field" };
    const field = issue.path.length ? issue.path.join(".") : "(body)";
    const message = issue.code === "invalid_type" ? `must be ${issue.expected}` : issue.message;
    return { field, message };
  });
}

/** How deeply a JSON value nests (a scalar is 0), counted without recursion; stops counting past `limit`. */
export function jsonDepth(value: unknown, limit = 1_000): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, here]);
  }
  return deepest;
}

/** One emoji as Unicode's RGI list names them (skin tones, flags and sequences included): nothing else is a reaction. */
const EMOJI_RE = new RegExp("^\\p{RGI_Emoji}$", "v");
export const emoji = (maxBytes: number) =>
  z
    .string()
    .refine((v) => Buffer.byteLength(v) <= maxBytes && EMOJI_RE.test(v), { message: "must be one emoji" })
    .meta({ description: `One emoji (Unicode RGI), at most ${maxBytes} UTF-8 bytes` });

/** Where a catch-up stands: the last message id and the last change sequence it covered (0 for none). */
export interface CatchUpPosition {
  message: string;
  change: string;
}
const POSITION_RE = /^(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})$/;
/** The opaque cursor a `chat:join` answer carries: clients keep it and hand it back. */
export const encodeCursor = (p: CatchUpPosition): string => Buffer.from(`${p.message}.${p.change}`).toString("base64url");
/** The position a cursor stands for; undefined when it is not one of ours. */
export function decodeCursor(cursor: string): CatchUpPosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return undefined;
  const match = POSITION_RE.exec(Buffer.from(cursor, "base64url").toString());
  if (!match || BigInt(match[1]!) > BIGINT_MAX || BigInt(match[2]!) > BIGINT_MAX) return undefined;
  return { message: match[1]!, change: match[2]! };
}
export const cursor = z
  .string()
  .refine((v) => decodeCursor(v) !== undefined, { message: "must be a cursor from an earlier chat:join answer" })
  .meta({ description: "Opaque: the `cursor` of an earlier `chat:join` answer for this chat" });

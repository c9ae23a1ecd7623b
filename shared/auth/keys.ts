import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

/**
 * The keys access tokens are signed and verified with. Asymmetric tokens are ES256 (ECDSA on
 * P-256): the api alone holds the private key, gateways hold public keys. HS256 with a shared
 * secret stays for deployments that used it. Every key carries the one algorithm it may verify
 * (`alg` is pinned per key, so a token whose header asks for HS256 against a public key is refused).
 *
 * Why ES256 and not EdDSA: jsonwebtoken (the project's JWT library) implements ES256 but not
 * EdDSA, and on this project's machines OpenSSL verifies P-256 faster than Ed25519 (the
 * gateway's hot path; bench `--only=tokens`).
 */
export type TokenAlgorithm = "ES256" | "HS256";

export interface TokenKey {
  /** The JWT header's `kid`: RFC 7638 thumbprint of a public key, a hash of a secret. */
  readonly kid: string;
  readonly alg: TokenAlgorithm;
  /** A public key (ES256) or a secret (HS256): what verifies. */
  readonly key: KeyObject;
}

export interface SigningKey extends TokenKey {
  /** The private key (ES256) or the secret (HS256): what signs. */
  readonly signWith: KeyObject;
}

/** A JWK of a public key as `/.well-known/jwks.json` publishes it. */
export interface PublicJwk extends JsonWebKey {
  kid: string;
  alg: "ES256";
  use: "sig";
}

/** Where a verifier looks keys up by `kid` (a fixed set, or the api's JWKS fetched by a gateway). */
export interface KeySource {
  get(kid: string): TokenKey | undefined;
  /**
   * Asked after a token named a `kid` that `get` did not know: fetch again if allowed and say
   * whether anything changed. "never" when this source has no key at all and could not get one
   * (then the verifier answers `unavailable`, not `invalid_token`).
   */
  refresh?(): Promise<"changed" | "unchanged" | "never">;
}

const isP256 = (key: KeyObject) => key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";

/** RFC 7638: SHA-256 of the required members in lexicographic order, base64url. */
export function thumbprint(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash("sha256").update(canonical).digest("base64url");
}

/** A secret's `kid`, the same on every replica without configuration (a hash, never the secret). */
export const secretKid = (secret: string) => createHash("sha256").update(secret).digest("base64url").slice(0, 16);

/** An ES256 verification key; throws unless it is a P-256 public key. */
export function es256Key(publicKey: KeyObject): TokenKey {
  if (publicKey.type !== "public" || !isP256(publicKey)) throw new Error("is not a P-256 (ES256) public key");
  return Object.freeze({ kid: thumbprint(publicKey), alg: "ES256" as const, key: publicKey });
}

export function hs256Key(secret: string): SigningKey {
  const key = createSecretKey(Buffer.from(secret));
  return Object.freeze({ kid: secretKid(secret), alg: "HS256" as const, key, signWith: key });
}

/** The signing key of an ES256 private key (PEM text); throws with the reason. */
export function es256SigningKey(pem: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new Error("is not a PEM private key");
  }
  if (privateKey.asymmetricKeyType === "ed25519") throw new Error("is an Ed25519 key: only ES256 (a P-256 EC key) is supported, see docs/security.md");
  if (!isP256(privateKey)) throw new Error("must be an ES256 key: a P-256 EC private key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)");
  return Object.freeze({ ...es256Key(createPublicKey(privateKey)), signWith: privateKey });
}

export function publicJwk(key: TokenKey): PublicJwk {
  if (key.alg !== "ES256") throw new Error("only public keys are published");
  const jwk = key.key.export({ format: "jwk" });
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: key.kid, alg: "ES256", use: "sig" };
}

/**
 * ES256 keys from a JWK Set (`{"keys":[…]}`). A key that is not an EC P-256 signing key (a
 * symmetric `oct` key above all: a JWKS must never turn a public value into an HMAC secret) is
 * skipped and named in `skipped`. A key's `kid` must be its thumbprint, as the api publishes it.
 */
export function keysFromJwks(doc: unknown): { keys: TokenKey[]; skipped: string[] } {
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error("is not a JWK Set: no keys array");
  const keys: TokenKey[] = [];
  const skipped: string[] = [];
  for (const jwk of list as Record<string, unknown>[]) {
    const name = typeof jwk?.kid === "string" ? jwk.kid : "(no kid)";
    const usable = jwk?.kty === "EC" && jwk.crv === "P-256" && (jwk.alg === undefined || jwk.alg === "ES256") && (jwk.use === undefined || jwk.use === "sig");
    if (!usable) {
      skipped.push(name);
      continue;
    }
    try {
      const key = es256Key(createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y } as JsonWebKey, format: "jwk" }));
      if (jwk.kid !== undefined && jwk.kid !== key.kid) throw new Error("kid is not the key's thumbprint");
      keys.push(key);
    } catch {
      skipped.push(name);
    }
  }
  return { keys, skipped };
}

/** Public keys from PEM text (one or more `PUBLIC KEY` blocks) or a JWK Set; throws with the reason. */
export function parsePublicKeys(text: string): TokenKey[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    const { keys, skipped } = keysFromJwks(JSON.parse(trimmed));
    if (skipped.length > 0) throw new Error(`holds keys that are not ES256 public keys: ${skipped.join(", ")}`);
    return keys;
  }
  const blocks = trimmed.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  if (blocks.length === 0) throw new Error("holds no PEM public key and is not a JWK Set");
  return blocks.map((block) => {
    if (/PRIVATE KEY/.test(block)) throw new Error("holds a private key: give gateways public keys only");
    return es256Key(createPublicKey(block));
  });
}

/**
 * A key given in a variable: PEM text (`\n` escapes allowed, as one line in an env file), a JWK
 * Set, or a path to a file holding either.
 */
export function readKeyText(value: string, cwd: string): string {
  const inline = value.replace(/\\n/g, "\n").trim();
  if (inline.startsWith("-----BEGIN") || inline.startsWith("{")) return inline;
  try {
    return readFileSync(resolve(cwd, value), "utf8");
  } catch {
    throw new Error(`is neither a PEM key nor a readable file (${value})`);
  }
}

/** Development only: an ES256 private key generated once into the data dir, shared by every process using it. */
export function devSigningKeyPem(dataDir: string): { pem: string; file: string } {
  const file = resolve(dataDir, "jwt-private-key.pem");
  mkdirSync(dataDir, { recursive: true });
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  try {
    writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), { flag: "wx", mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  chmodSync(file, 0o600);
  return { pem: readFileSync(file, "utf8"), file };
}

/** A fixed set of keys by `kid`. */
export class KeyRing implements KeySource {
  private readonly byKid: Map<string, TokenKey>;
  constructor(keys: readonly TokenKey[]) {
    this.byKid = new Map(keys.map((k) => [k.kid, k]));
  }
  get(kid: string): TokenKey | undefined {
    return this.byKid.get(kid);
  }
  get all(): TokenKey[] {
    return [...this.byKid.values()];
  }
}

/** Several sources in order (the configured keys, then a JWKS): the first that knows a `kid` answers. */
export class KeySources implements KeySource {
  constructor(private readonly sources: readonly KeySource[]) {}
  get(kid: string): TokenKey | undefined {
    for (const s of this.sources) {
      const key = s.get(kid);
      if (key) return key;
    }
    return undefined;
  }
  async refresh(): Promise<"changed" | "unchanged" | "never"> {
    const refreshable = this.sources.filter((s) => s.refresh);
    if (refreshable.length === 0) return "unchanged";
    const results = await Promise.all(refreshable.map((s) => s.refresh!()));
    if (results.includes("changed")) return "changed";
    // "never" only when nothing at all can verify: no fixed key either.
    return results.every((r) => r === "never") && this.sources.every((s) => s.refresh || (s instanceof KeyRing && s.all.length === 0)) ? "never" : "unchanged";
  }
}

import { createHmac, hkdfSync, type KeyObject, randomBytes, timingSafeEqual } from "node:crypto";
import type { Request, Response } from "express";

/** The cookie, and the header clients without cookies (mobile apps) send the same value in. */
export const DEVICE_COOKIE = "wsac_device";
export const DEVICE_HEADER = "X-Device";
const MAX_AGE_SECONDS = 365 * 86_400;
const VERSION = "v1";

/** A device that logged in to `userId` before (its value was signed here). */
export interface KnownDevice {
  userId: string;
  deviceId: string;
}

/**
 * Devices for the smart lockout: a successful login hands the client a value naming the account
 * and a random device id, signed with a key only the api replicas hold (derived with HKDF from the
 * token signing key, so every replica agrees and no setting is added; a new signing key makes old
 * values unknown, and their devices count as strangers until their next login). A later login to
 * the same account that brings it back is judged by that device's own failures.
 */
export class DeviceTokens {
  private readonly key: Buffer;

  constructor(signingKey: KeyObject) {
    const material = signingKey.type === "secret" ? signingKey.export() : signingKey.export({ format: "der", type: "pkcs8" });
    this.key = Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), "wsac device cookie v1", 32));
  }

  private mac(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }

  /** A new value for `userId`, or the same device again (its expiry renewed). */
  issue(userId: string, deviceId = randomBytes(16).toString("base64url")): string {
    const body = `${VERSION}.${userId}.${deviceId}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The device a value names, if this api signed it; anything else is a stranger. */
  read(value: string | undefined): KnownDevice | undefined {
    if (!value || value.length > 200) return undefined;
    const parts = value.split(".");
    if (parts.length !== 4 || parts[0] !== VERSION) return undefined;
    const [, userId, deviceId, mac] = parts as [string, string, string, string];
    const expected = Buffer.from(this.mac(`${VERSION}.${userId}.${deviceId}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return { userId, deviceId };
  }
}

/** The device value a request brings: the cookie, else the header. */
export function deviceValue(req: Request): string | undefined {
  const cookies = req.headers.cookie;
  if (cookies) {
    for (const part of cookies.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === DEVICE_COOKIE) return part.slice(eq + 1).trim();
    }
  }
  const header = req.get(DEVICE_HEADER);
  return header ? header.trim() : undefined;
}

/** Hands the device value back: an httpOnly cookie for browsers, the header for everyone else. */
export function sendDevice(req: Request, res: Response, value: string): void {
  res.cookie(DEVICE_COOKIE, value, { httpOnly: true, sameSite: "strict", secure: req.secure, path: "/", maxAge: MAX_AGE_SECONDS * 1000 });
  res.setHeader(DEVICE_HEADER, value);
}

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { checkWebhookUrl, isPrivateAddress, postWebhook, signedHeaders } from "../../../api/webhooks/delivery";
import { backoffSeconds } from "../../../api/webhooks/worker";
import { WebhookReceiver } from "../../support/webhook-receiver";

let receiver: WebhookReceiver;
const SECRET = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  receiver.secret = SECRET;
});
afterAll(async () => {
  await receiver.stop();
});

const body = JSON.stringify({ type: "user.registered", timestamp: new Date().toISOString(), data: { user: { id: "x" } } });

describe("a webhook POST", () => {
  it("is signed so that the standardwebhooks package verifies it, and keeps its webhook-id", async () => {
    const headers = signedHeaders(SECRET, "evt_42", body);
    expect(() => new Webhook(SECRET).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(SECRET).verify(body.replace("x", "y"), headers)).toThrow();
    const attempt = await postWebhook(receiver.url, headers, body, { timeoutMs: 2_000, allowPrivate: true });
    expect(attempt).toEqual({ ok: true, status: 200 });
    expect(receiver.received.at(-1)).toMatchObject({ id: "evt_42", verified: true, type: "user.registered" });
  });

  it("never reaches an internal address without the setting: not by IP, and not by a name that resolves to one", async () => {
    const url = receiver.url;
    const before = receiver.attempts.size;
    const byIp = await postWebhook(url, signedHeaders(SECRET, "evt_ip", body), body, { timeoutMs: 2_000, allowPrivate: false });
    expect(byIp.ok).toBe(false);
    expect(byIp.error).toMatch(/internal address/);
    const byName = await postWebhook(url.replace("127.0.0.1", "localhost"), signedHeaders(SECRET, "evt_name", body), body, { timeoutMs: 2_000, allowPrivate: false });
    expect(byName.ok).toBe(false);
    expect(byName.error).toMatch(/internal address/);
    expect(receiver.attempts.size).toBe(before);
    expect(checkWebhookUrl("http://10.1.2.3/x", false)).toMatch(/internal/);
    expect(checkWebhookUrl("http://[::1]:80/x", false)).toMatch(/internal/);
    expect(checkWebhookUrl("http://[::ffff:127.0.0.1]/x", false)).toMatch(/internal/);
    expect(checkWebhookUrl("http://metadata.internal/x", false)).toMatch(/internal/);
    expect(checkWebhookUrl("http://user:pw@example.com/x", false)).toMatch(/credentials/);
    expect(checkWebhookUrl("https://example.com/hooks", false)).toBeUndefined();
    expect(checkWebhookUrl("http://127.0.0.1/x", true)).toBeUndefined();
    for (const a of ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:a00:1", "0.0.0.0"]) expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    for (const a of ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8", "::ffff:808:808"]) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });

  it("gives up on a receiver that does not answer within the time-out, and does not follow a redirect", async () => {
    receiver.answer = "hang";
    const started = Date.now();
    const hung = await postWebhook(receiver.url, signedHeaders(SECRET, "evt_hang", body), body, { timeoutMs: 500, allowPrivate: true });
    expect(hung.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
    receiver.answer = 301;
    const moved = await postWebhook(receiver.url, signedHeaders(SECRET, "evt_moved", body), body, { timeoutMs: 2_000, allowPrivate: true });
    expect(moved).toMatchObject({ ok: false, status: 301 });
    receiver.answer = 200;
  });
});

describe("the retry schedule", () => {
  it("doubles from the minimum up to the cap, with jitter between half and the whole", () => {
    expect(backoffSeconds(1, 5, 3600, 0)).toBe(2.5);
    expect(backoffSeconds(1, 5, 3600, 1)).toBe(5);
    expect(backoffSeconds(4, 5, 3600, 1)).toBe(40);
    expect(backoffSeconds(30, 5, 3600, 1)).toBe(3600);
    expect(backoffSeconds(30, 5, 3600, 0)).toBe(1800);
    // Attempts over the default 24 h window: at least 24 of them after the cap is reached.
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < 24 * 3600) elapsed += backoffSeconds(++attempts, 5, 3600, 0.5);
    expect(attempts).toBeGreaterThan(24);
  });
});

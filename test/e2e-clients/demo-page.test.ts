import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumReady, chromiumSkipReason, launchChromium } from "../support/chromium";
import { type SingleNode, startSingleNode } from "../support/fixtures";
import { httpClient, newCredentials } from "../support/http";
import { clockPasses } from "../support/waits";

/**
 * The demo page at `/`, as people use it: Chromium drives the page the api serves (built by
 * client/build.mjs), against one node as `npm start` runs it. Skips, saying what to install,
 * when Chromium or playwright-core is missing.
 */
const root = resolve(__dirname, "../..");
const DESKTOP = { width: 1100, height: 700 };
const PHONE = { width: 375, height: 740 };
/** The contract gives revocation one second to reach every socket; the page gets a little slack on top. */
const ENDED_WITHIN_MS = 3_000;
/**
 * Screenshots are taken on every run, into a temporary folder removed afterwards (a failed
 * screenshot fails the test). With DEMO_SCREENSHOTS=1 the folder is kept and the README's
 * docs/demo-chat.png is rewritten: its clock times differ on every run, and a test run should
 * leave the work tree unchanged.
 */
const SCREENSHOTS = process.env.DEMO_SCREENSHOTS === "1";
let shotsDir: string | undefined;
async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  shotsDir ??= mkdtempSync(join(tmpdir(), "demo-page-"));
  const path = SCREENSHOTS && name === "demo-chat.png" ? join(root, "docs", name) : join(shotsDir, name);
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, ...options });
  if (SCREENSHOTS) console.log(`demo page: screenshot ${path}`);
}

let node: SingleNode;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!chromiumReady) return;
  // The page and its bundle as the api serves them (dist/public).
  await promisify(execFile)(process.execPath, [join(root, "client", "build.mjs")], { cwd: root });
  node = await startSingleNode();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await node?.close();
  if (shotsDir && !SCREENSHOTS) rmSync(shotsDir, { recursive: true, force: true });
});

/** A fresh browser profile (its own storage) with the page open. */
async function openPage(viewport = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  return openTab(context, node.url);
}

/** Another tab of `context` on the page of `url`; `before` runs ahead of the page's scripts. */
async function openTab(context: BrowserContext, url: string, before?: (page: Page) => Promise<unknown>): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const seen: string[] = [];
  page.on("pageerror", (err) => seen.push(err.message));
  page.on("console", (msg) => msg.type() === "error" && seen.push(msg.text()));
  pageProblems.set(page, seen);
  await before?.(page);
  const res = await page.goto(`${url}/`);
  expect(res?.status(), "GET / serves the demo page").toBe(200);
  return page;
}

/** Script errors and failed loads on a page, other than the 4xx answers a scenario provokes. */
const pageProblems = new WeakMap<Page, string[]>();
const problems = (page: Page) => (pageProblems.get(page) ?? []).filter((p) => !/status of 4\d\d/.test(p));

const visible = (locator: Locator, timeout?: number) => locator.waitFor({ state: "visible", timeout });
const app = (page: Page) => page.locator("#app");
const exactly = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
const messageWith = (page: Page, text: string) => page.locator("#messages [data-testid=message] .text", { hasText: exactly(text) });

async function register(page: Page, creds: { username: string; email: string; password: string }): Promise<void> {
  const form = page.locator("#register-form");
  await form.getByLabel("Username").fill(creds.username);
  await form.getByLabel("Email").fill(creds.email);
  await form.getByLabel("Password", { exact: true }).fill(creds.password);
  await form.getByRole("button", { name: "Create account" }).click();
  await visible(app(page));
  expect(await page.locator("#whoami-name").textContent()).toBe(creds.username);
}

async function login(page: Page, username: string, password: string): Promise<void> {
  const form = page.locator("#login-form");
  await form.getByLabel("Username or email").fill(username);
  await form.getByLabel("Password").fill(password);
  await form.getByLabel("Password").press("Enter");
  await visible(app(page));
}

/** The little of the DOM the checks below read (the test project has no DOM lib). */
interface Field {
  type: string;
  id: string;
  name: string;
  outerHTML: string;
  labels: { length: number } | null;
  getAttribute(name: string): string | null;
}
interface PageGlobals {
  document: {
    documentElement: { scrollWidth: number; clientWidth: number };
    querySelectorAll(selector: string): ArrayLike<Field>;
    visibilityState: string;
    dispatchEvent(event: unknown): boolean;
    activeElement: { getAttribute(name: string): string | null; textContent: string | null } | null;
  };
  Event: new (type: string) => unknown;
  getComputedStyle(el: unknown): { gridTemplateColumns: string };
  sessionStorage: { length: number; key(i: number): string | null; getItem(key: string): string | null; setItem(key: string, value: string): void };
}

/** Form fields without an accessible name from a label (or aria-label / aria-labelledby). */
async function unlabelledFields(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const { document } = globalThis as unknown as PageGlobals;
    return Array.from(document.querySelectorAll("input, select, textarea"))
      .filter((f) => f.type !== "hidden" && (f.labels?.length ?? 0) === 0 && !f.getAttribute("aria-label") && !f.getAttribute("aria-labelledby"))
      .map((f) => f.id || f.name || f.outerHTML);
  });
}

/**
 * As when the user comes back to the tab (the page hears `visibilitychange`): the page reads again
 * what no event tells it, such as its sessions or a chat the user made on another device.
 */
async function showAgain(page: Page): Promise<void> {
  const state = await page.evaluate(() => {
    const { document, Event } = globalThis as unknown as PageGlobals;
    document.dispatchEvent(new Event("visibilitychange"));
    return document.visibilityState;
  });
  expect(state, "a page of the test is visible").toBe("visible");
}

const horizontalOverflow = (page: Page) =>
  page.evaluate(() => {
    const { documentElement } = (globalThis as unknown as PageGlobals).document;
    return documentElement.scrollWidth - documentElement.clientWidth;
  });

/** A message of the open room, by its exact text (a tombstone's is "This message was deleted"). */
const message = (page: Page, text: string) => page.locator("#messages [data-testid=message]", { has: page.locator(".text", { hasText: exactly(text) }) });
/** The chat's button in the list of chats (its name, then its badge and last message). */
const chatButton = (page: Page, name: string) => page.locator("#chats button.chat", { has: page.locator(".chat-name", { hasText: exactly(name) }) });
const badge = (page: Page, name: string) => chatButton(page, name).locator("[data-testid=unread]");
const seenBy = (page: Page) => page.locator("#messages [data-testid=seen-by]");

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Message", { exact: true }).press("Enter");
  await visible(message(page, text));
}

/** Opens a message's menu (⋯) and picks `choice` there. */
async function choose(item: Locator, choice: string | RegExp): Promise<void> {
  await item.getByRole("button", { name: /^Actions for/ }).click();
  await item.locator(".menu").getByRole("button", { name: choice, exact: typeof choice === "string" }).click();
}

async function openChat(page: Page, name: string): Promise<void> {
  await chatButton(page, name).click();
  await visible(page.locator("#room-title", { hasText: exactly(name) }));
}

describe("the demo page", () => {
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
  });

  it.skipIf(!chromiumReady)(`loads with no console message at all, a 4xx included (the icon is served)${chromiumSkipReason}`, async () => {
    const page = await openPage();
    await visible(page.locator("#register-form"));
    await page.waitForLoadState("networkidle");
    expect(pageProblems.get(page)).toEqual([]);
    expect((await fetch(`${node.url}/favicon.ico`)).headers.get("content-type")).toContain("image/svg+xml");
  });

  it.skipIf(!chromiumReady)(`labels every field, shows zxcvbn's feedback on a weak password and fits a phone's width${chromiumSkipReason}`, async () => {
    const page = await openPage(PHONE);
    expect(await unlabelledFields(page)).toEqual([]);
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);

    const creds = newCredentials("weak");
    const form = page.locator("#register-form");
    await form.getByLabel("Username").fill(creds.username);
    await form.getByLabel("Email").fill(creds.email);
    await form.getByLabel("Password", { exact: true }).fill("password1");
    await form.getByRole("button", { name: "Create account" }).press("Enter"); // keyboard, not a click
    const feedback = page.locator("[data-testid=password-feedback]");
    await visible(feedback);
    expect(Number(await page.locator("#password-score").textContent())).toBeLessThan(3);
    expect(await page.locator("#password-suggestions li").count()).toBeGreaterThan(0);
    expect(await page.locator("#register-error").textContent()).not.toBe("");

    // A wrong password on login: the problem's detail next to the form.
    await page.locator("#login-form").getByLabel("Username or email").fill(creds.username);
    await page.locator("#login-form").getByLabel("Password").fill("not-the-password");
    await page.locator("#login-form").getByRole("button", { name: "Log in" }).click();
    await visible(page.locator("#login-error"));
    expect(await page.locator("#login-error").textContent()).not.toBe("");
    expect(await app(page).isVisible()).toBe(false);
    expect(problems(page)).toEqual([]);
  });

  it.skipIf(!chromiumReady)(`ends the other device's session from the sessions list: that page, in a live chat, says so at once and shows the login form${chromiumSkipReason}`, async () => {
    const creds = newCredentials("twodev");
    const laptop = await openPage();
    await register(laptop, creds);
    await visible(laptop.locator("#connection[data-status=connected]"));

    // The login survives a reload (kept in the browser's storage).
    await laptop.reload();
    await visible(app(laptop));
    expect(await laptop.locator("#whoami-name").textContent()).toBe(creds.username);

    const phone = await openPage();
    await login(phone, creds.email, creds.password); // the username field takes the email too
    await visible(phone.locator("#connection[data-status=connected]"));

    // Both devices in one chat, live.
    await laptop.getByLabel("Name", { exact: true }).fill("Notes to self");
    await laptop.getByRole("button", { name: "Create chat" }).click();
    await visible(laptop.locator("#room-title", { hasText: "Notes to self" }));
    // Made on another device of the same user: no event tells the phone (the api sends chat:added
    // for an accepted invite or a server-API addition, not to the creator), so the chat shows up
    // when the user comes back to the page.
    await showAgain(phone);
    await phone.locator("#chats").getByRole("button", { name: "Notes to self" }).click();
    await visible(phone.locator("#room-title", { hasText: "Notes to self" }));
    await laptop.getByLabel("Message", { exact: true }).fill("sent from the laptop");
    await laptop.getByLabel("Message", { exact: true }).press("Enter");
    await visible(messageWith(phone, "sent from the laptop"));

    await showAgain(laptop); // the sessions list is read when the page is shown again, no timer
    const sessions = laptop.locator("#sessions [data-testid=session]");
    await expect.poll(() => sessions.count()).toBe(2);
    const mine = laptop.locator("#sessions [data-testid=session][data-current=true]");
    expect(await mine.textContent()).toContain("this device");
    const other = laptop.locator("#sessions [data-testid=session][data-current=false]");
    expect(await other.textContent()).not.toContain("this device");

    const ended = phone.locator("[data-testid=session-ended]");
    expect(await ended.isVisible()).toBe(false);
    const started = Date.now();
    await other.getByRole("button", { name: /Revoke/ }).click();
    await visible(ended.getByText("Your session was ended (revoked)."), ENDED_WITHIN_MS);
    console.log(`demo page: the revoked device showed "session ended" ${Date.now() - started} ms after the Revoke click`);
    expect(await ended.getAttribute("role")).toBe("alert");
    expect(await ended.textContent()).toMatch(/Log in again/);
    await visible(phone.locator("#login-form"));
    expect(await app(phone).isVisible()).toBe(false);
    expect(await phone.locator("#connection").getAttribute("data-status")).toBe("ended");
    await screenshot(phone, "demo-session-ended.png");

    // Gone for good: a reload does not resume it, and the laptop carries on with one session.
    await phone.reload();
    await visible(phone.locator("#login-form"));
    expect(await app(phone).isVisible()).toBe(false);
    await expect.poll(() => sessions.count()).toBe(1);
    expect(await app(laptop).isVisible()).toBe(true);
    expect(await laptop.locator("#connection").getAttribute("data-status")).toBe("connected");

    // Logging out on purpose: the login form, without the alert, and nothing left to resume.
    await laptop.getByRole("button", { name: "Log out", exact: true }).click();
    await visible(laptop.locator("#login-form"));
    expect(await laptop.locator("[data-testid=session-ended]").isVisible()).toBe(false);
    expect(await laptop.locator("#connection").getAttribute("data-status")).toBe("offline");
    await laptop.reload();
    await visible(laptop.locator("#login-form"));
    expect(await app(laptop).isVisible()).toBe(false);
  });

  it.skipIf(!chromiumReady)(`shares one login between the tabs of a browser, a duplicated tab included: their refreshes take turns and never present a spent refresh token, so the session lives on; a logout ends every tab${chromiumSkipReason}`, async () => {
    // An access token of 6 s: the tabs' clients refresh it several times during the test.
    const short = await startSingleNode({ env: { ACCESS_TOKEN_TTL: "6s" } });
    const context = await browser.newContext({ viewport: DESKTOP });
    // Every refresh token presented, by any tab. Refreshes answer a second late, so those of both tabs overlap.
    const presented: string[] = [];
    await context.route("**/token/refresh", async (route) => {
      presented.push((route.request().postDataJSON() as { refresh_token: string }).refresh_token);
      await clockPasses(1_000, "a slow network: each refresh answers a second late, so that the tabs' refreshes overlap");
      await route.continue().catch(() => undefined); // the context may be closing
    });
    try {
      const first = await openTab(context, short.url);
      await register(first, newCredentials("tabs"));
      await visible(first.locator("#connection[data-status=connected]"));

      // A duplicated tab starts with a copy of the first tab's sessionStorage, before any script of the page runs.
      const copied = await first.evaluate(() => {
        const { sessionStorage } = globalThis as unknown as PageGlobals;
        const entries: [string, string][] = [];
        for (let i = 0; i < sessionStorage.length; i++) {
          const key = sessionStorage.key(i)!;
          entries.push([key, sessionStorage.getItem(key)!]);
        }
        return entries;
      });
      const second = await openTab(context, short.url, (page) =>
        page.addInitScript((entries) => {
          const { sessionStorage } = globalThis as unknown as PageGlobals;
          for (const [key, value] of entries) sessionStorage.setItem(key, value);
        }, copied),
      );
      await visible(app(second));
      await visible(second.locator("#connection[data-status=connected]"));

      // Past two lifetimes of the first token, with both tabs' sockets up: their timers refresh it. The
      // lifetimes run on the browser's and the api's real clocks: they really pass.
      await clockPasses(14_000, "two lifetimes of the first 6 s token, refreshed by the tabs' own timers");
      expect(presented.length).toBeGreaterThanOrEqual(2);
      for (const tab of [first, second]) expect(await tab.locator("[data-testid=session-ended]").textContent()).toBe("");

      // Both tabs at once: a call answered 401 token_expired (as when the clocks disagree) makes
      // each refresh and retry; one presents the refresh token, the other takes what it got.
      const refused = new Set<Page>();
      await context.route("**/sessions", async (route) => {
        const tab = route.request().frame().page();
        if (refused.has(tab)) return route.continue();
        refused.add(tab);
        await route.fulfill({
          status: 401,
          contentType: "application/problem+json",
          body: JSON.stringify({ type: "about:blank", title: "Unauthorized", status: 401, code: "token_expired", detail: "Token expired" }),
        });
      });
      const retried = Promise.all([first, second].map((tab) => tab.waitForResponse((res) => new URL(res.url()).pathname === "/sessions" && res.status() === 200)));
      retried.catch(() => undefined); // awaited below: a failed click must not leave it unhandled
      await Promise.all([showAgain(first), showAgain(second)]);
      await retried;

      for (const tab of [first, second]) {
        expect(await tab.locator("[data-testid=session-ended]").textContent()).toBe("");
        expect(await app(tab).isVisible()).toBe(true);
        await visible(tab.locator("#connection[data-status=connected]"));
        expect(await tab.locator("#sessions [data-testid=session][data-current=true]").count()).toBe(1);
      }
      console.log(`demo page: ${presented.length} refreshes by two tabs of one login`);
      expect(new Set(presented).size).toBe(presented.length);

      // Logging out in one tab signs out the other one too, for good.
      await first.getByRole("button", { name: "Log out", exact: true }).click();
      await visible(first.locator("#login-form"));
      await visible(second.locator("#login-form"));
      expect(await app(second).isVisible()).toBe(false);
      await second.reload();
      await visible(second.locator("#login-form"));
      expect(await app(second).isVisible()).toBe(false);
      expect(problems(first)).toEqual([]);
      expect(problems(second)).toEqual([]);
    } finally {
      await context.close();
      await short.close();
    }
  }, 60_000);

  it.skipIf(!chromiumReady)(`lets two people chat live, with history, presence and typing${chromiumSkipReason}`, async () => {
    // This node's database is the test file's own: plain names read well in the screenshot.
    const strong = newCredentials().password;
    const alice = { username: "alice", email: "alice@example.test", password: strong };
    const bob = { username: "bob", email: "bob@example.test", password: strong };
    const a = await openPage();
    const b = await openPage();
    await register(a, alice);
    await register(b, bob);

    // Alice creates a chat inviting Bob; the room opens for her.
    const chatName = "Launch plans";
    await a.getByLabel("Name", { exact: true }).fill(chatName);
    await a.getByLabel(/^Invite \(usernames/).fill(` ${bob.username} `);
    await a.getByRole("button", { name: "Create chat" }).click();
    await visible(a.locator("#room-title", { hasText: chatName }));
    await visible(a.locator("#presence", { hasText: `${alice.username} (you)` }));

    // Fifty-three earlier messages (over HTTP, as another app of hers): Alice sees them live.
    const api = httpClient(node.url);
    const token = (await api.post("/login", { username: alice.username, password: alice.password })).body.token as string;
    const chatId = (await a.locator("#room-body").getAttribute("data-chat-id"))!;
    for (let i = 1; i <= 53; i++) expect((await api.as(token).post(`/chats/${chatId}/messages`, { text: `earlier message ${i}` })).status).toBe(201);
    await visible(messageWith(a, "earlier message 53"));

    // Bob accepts the invite (it came live); his room shows the newest page, and older ones on request (keyboard).
    await b.getByRole("button", { name: `Accept invite to ${chatName}` }).click();
    await visible(b.locator("#room-title", { hasText: chatName }));
    await visible(messageWith(b, "earlier message 53"));
    expect(await b.locator("#messages [data-testid=message]").count()).toBe(50);
    expect(await messageWith(b, "earlier message 3").count()).toBe(0);
    await b.locator("#load-older").focus();
    await b.keyboard.press("Enter");
    await visible(messageWith(b, "earlier message 1"));
    expect(await b.locator("#messages [data-testid=message]").count()).toBe(53);
    expect(await b.locator("#load-older").getAttribute("aria-disabled")).toBe("true");
    const order = await b.locator("#messages [data-testid=message] .text").allTextContents();
    expect(order.slice(0, 3)).toEqual(["earlier message 1", "earlier message 2", "earlier message 3"]);

    // Presence: each sees the other online.
    await visible(a.locator("#presence", { hasText: bob.username }));
    await visible(b.locator("#presence", { hasText: alice.username }));

    // Bob types: Alice sees it; his message clears it.
    await b.getByLabel("Message", { exact: true }).pressSequentially("hi Alice", { delay: 30 });
    await visible(a.locator("#typing", { hasText: `${bob.username} is typing…` }));
    await b.getByLabel("Message", { exact: true }).press("Enter");
    await visible(messageWith(a, "hi Alice"));
    expect(await a.locator("#typing").textContent()).toBe("");
    expect(await a.locator("#announcer").textContent()).toContain(`${bob.username}: hi Alice`);

    // Alice answers; Bob sees it live.
    await a.getByLabel("Message", { exact: true }).fill("hello Bob, welcome to the room");
    await a.getByRole("button", { name: "Send" }).click();
    await visible(messageWith(b, "hello Bob, welcome to the room"));
    await visible(messageWith(a, "hello Bob, welcome to the room"));
    expect(await a.getByLabel("Message", { exact: true }).inputValue()).toBe("");

    // Anyone in the room invites someone else from it.
    const carol = newCredentials("carol");
    expect((await api.post("/register", carol)).status).toBe(201);
    await b.getByLabel("Invite to this chat").fill(carol.username);
    await b.getByRole("button", { name: "Invite", exact: true }).click();
    await visible(b.locator("#room-notice", { hasText: `Invited ${carol.username}.` }));

    expect(await unlabelledFields(a)).toEqual([]);
    expect(problems(a)).toEqual([]);
    expect(problems(b)).toEqual([]);

    // A conversation, with Bob typing his next line (the README's screenshot is the next test's).
    for (const [page, text] of [
      [b, "Looks good. Did the revoke button in Sessions work for you?"],
      [a, "Yes: my old laptop was signed out within a second."],
    ] as const) {
      await page.getByLabel("Message", { exact: true }).fill(text);
      await page.getByLabel("Message", { exact: true }).press("Enter");
      await visible(messageWith(a, text));
    }
    await b.getByLabel("Message", { exact: true }).pressSequentially("Great, ship it", { delay: 20 });
    await visible(a.locator("#typing", { hasText: "bob is typing…" }));
    await a.locator("#message-text").blur();
    await screenshot(a, "demo-chat-typing.png");

    // At a phone's width: one column, no horizontal scrolling, the room still usable.
    await b.setViewportSize(PHONE);
    expect(await horizontalOverflow(b)).toBeLessThanOrEqual(0);
    const columns = await b.locator("#app").evaluate((el) => (globalThis as unknown as PageGlobals).getComputedStyle(el).gridTemplateColumns.split(" ").length);
    expect(columns).toBe(1);
    await screenshot(b, "demo-chat-phone.png", { fullPage: true });
  }, 60_000);

  it.skipIf(!chromiumReady)(
    `keeps chats and invites live with unread badges, and shows "seen by", edits, deletions, reactions, reports and blocks as they happen${chromiumSkipReason}`,
    async () => {
      const strong = newCredentials().password;
      const maria = { username: "maria", email: "maria@example.test", password: strong };
      const jonas = { username: "jonas", email: "jonas@example.test", password: strong };
      const max = { username: "max", email: "max@example.test", password: strong };
      // Maria's page is the README's screenshot: a little taller than the other tests' pages.
      const a = await openPage({ width: 1100, height: 840 });
      const b = await openPage();
      await register(a, maria);
      await register(b, jonas);
      await visible(a.locator("#connection[data-status=connected]"));
      await visible(b.locator("#connection[data-status=connected]"));
      // Max is a third member, on the api (his own app).
      const api = httpClient(node.url);
      expect((await api.post("/register", max)).status).toBe(201);
      const asMax = api.as((await api.post("/login", { username: max.username, password: max.password })).body.token as string);

      // Nothing to refresh by hand: there is no Refresh button at all.
      for (const page of [a, b]) expect(await page.getByRole("button", { name: /refresh/i }).count()).toBe(0);

      // Invites arrive live, and an accepted one's chat is in the list at once.
      await a.getByLabel("Name", { exact: true }).fill("Trip planning");
      await a.getByLabel(/^Invite \(usernames/).fill("jonas, max");
      await a.getByRole("button", { name: "Create chat" }).click();
      await visible(a.locator("#room-title", { hasText: "Trip planning" }));
      await b.getByRole("button", { name: "Accept invite to Trip planning" }).click();
      await visible(b.locator("#room-title", { hasText: "Trip planning" }));
      await visible(chatButton(b, "Trip planning"));
      const invite = (await asMax.get("/invites")).body.invites[0] as { id: string };
      expect((await asMax.post(`/invites/${invite.id}/accept`)).status).toBe(200);
      const tripId = (await a.locator("#room-body").getAttribute("data-chat-id"))!;

      await a.getByLabel("Name", { exact: true }).fill("Side project");
      await a.getByLabel(/^Invite \(usernames/).fill("jonas");
      await a.getByRole("button", { name: "Create chat" }).click();
      await visible(a.locator("#room-title", { hasText: "Side project" }));
      await b.getByRole("button", { name: "Accept invite to Side project" }).click();
      await visible(b.locator("#room-title", { hasText: "Side project" }));
      await visible(b.locator("#invites-empty"));
      await openChat(b, "Trip planning");

      // Unread: Maria writes in the chat Jonas does not have open; his badge counts, the list shows the last line.
      await send(a, "Does Friday work for the demo?");
      await send(a, "I can book the big room.");
      await expect.poll(() => badge(b, "Side project").textContent()).toBe("2 unread");
      expect(await chatButton(b, "Side project").locator("[data-testid=preview]").textContent()).toBe("maria: I can book the big room.");
      expect(await badge(b, "Trip planning").count()).toBe(0);
      expect(await seenBy(a).count()).toBe(0);
      // Jonas opens it: read, the badge goes; Maria sees that he saw it.
      await openChat(b, "Side project");
      await visible(message(b, "I can book the big room."));
      await expect.poll(() => badge(b, "Side project").count()).toBe(0);
      await visible(seenBy(a).filter({ hasText: exactly("Seen by jonas") }));

      // Maria edits a message (by keyboard) and deletes another: Jonas sees "(edited)" and the tombstone live.
      await send(a, "Lunch at 12?");
      await visible(message(b, "Lunch at 12?"));
      // The item by its id: while it is edited, its text is an input.
      const lunch = a.locator(`#messages [data-id="${await message(a, "Lunch at 12?").getAttribute("data-id")}"]`);
      await lunch.getByRole("button", { name: "Actions for your message" }).focus();
      await a.keyboard.press("Enter"); // the menu opens on its first choice
      const focused = () => a.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.textContent ?? "");
      expect(await focused()).toBe("👍");
      for (let i = 0; i < 8 && (await focused()) !== "Edit"; i++) await a.keyboard.press("Tab"); // past the quick reactions
      await a.keyboard.press("Enter");
      await lunch.getByLabel("Edit message").fill("Lunch at 12:30?");
      await lunch.getByLabel("Edit message").press("Enter");
      for (const page of [a, b]) await visible(message(page, "Lunch at 12:30?").locator(".edited", { hasText: "(edited)" }));
      expect(await message(b, "Lunch at 12?").count()).toBe(0);

      await send(a, "oops, wrong chat");
      await visible(message(b, "oops, wrong chat"));
      await choose(message(a, "oops, wrong chat"), "Delete");
      await a.getByRole("button", { name: "Yes, delete" }).click();
      for (const page of [a, b]) {
        await visible(message(page, "This message was deleted"));
        expect(await message(page, "oops, wrong chat").count()).toBe(0);
      }
      // Jonas may not edit or delete Maria's messages: his menu offers neither. Escape closes it.
      const actions = message(b, "Lunch at 12:30?").getByRole("button", { name: "Actions for maria's message" });
      await actions.click();
      const menu = message(b, "Lunch at 12:30?").locator(".menu");
      expect(await menu.getByRole("button").allTextContents()).toEqual(["👍", "❤️", "😂", "🎉", "😮", "Report…", "Block maria"]);
      await b.keyboard.press("Escape");
      await expect.poll(() => actions.getAttribute("aria-expanded")).toBe("false");
      expect(await menu.isVisible()).toBe(false);
      expect(await b.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute("aria-label"))).toBe("Actions for maria's message");
      await actions.press("Enter");
      await screenshot(b, "demo-message-menu.png");

      // Reactions: Jonas reacts, Maria sees the count; she adds hers with the chip.
      await menu.getByRole("button", { name: "React with 🎉" }).click();
      const chip = (page: Page, emoji: string) => message(page, "Lunch at 12:30?").locator("button.chip", { hasText: emoji });
      await visible(chip(a, "🎉").filter({ hasText: "🎉 1" }));
      expect(await chip(a, "🎉").getAttribute("aria-pressed")).toBe("false");
      expect(await chip(b, "🎉").getAttribute("aria-pressed")).toBe("true");
      await chip(a, "🎉").click();
      for (const page of [a, b]) await visible(chip(page, "🎉").filter({ hasText: "🎉 2" }));
      expect(await chip(a, "🎉").getAttribute("aria-pressed")).toBe("true");
      expect(await chip(b, "🎉").getAttribute("aria-pressed")).toBe("true");
      await choose(message(b, "Lunch at 12:30?"), "React with 👍");
      await visible(chip(a, "👍").filter({ hasText: "👍 1" }));

      // Jonas reports a message; Maria, the owner, sees it under Reports and resolves it.
      expect(await b.locator("#reports-toggle").isVisible()).toBe(false);
      await choose(message(b, "I can book the big room."), "Report…");
      await b.getByLabel("Why report this message?").fill("Testing the report button");
      await b.getByRole("button", { name: "Send report" }).click();
      await visible(b.locator("#room-notice", { hasText: "Reported maria's message" }));
      await a.getByRole("button", { name: /^Reports/ }).click();
      const report = a.locator("#reports [data-testid=report]");
      await visible(report.filter({ hasText: "Testing the report button" }));
      await screenshot(a, "demo-reports.png");
      expect(await report.textContent()).toContain("jonas reported maria's message");
      await report.getByRole("button", { name: /^Resolve jonas's report, keeping/ }).click();
      await visible(a.locator("#reports-empty"));
      await visible(message(b, "I can book the big room.")); // kept

      // Max spams the other chat: a badge for both. Jonas reads it on another device (the api): his
      // badge here goes too. He reports it, and Maria resolves the report, deleting the message.
      const spam = await asMax.post(`/chats/${tripId}/messages`, { text: "Cheap watches at spam.example" });
      expect(spam.status).toBe(201);
      await expect.poll(() => badge(b, "Trip planning").textContent()).toBe("1 unread");
      await expect.poll(() => badge(a, "Trip planning").textContent()).toBe("1 unread");
      const asJonas = api.as((await api.post("/login", { username: jonas.username, password: jonas.password })).body.token as string);
      expect((await asJonas.put(`/chats/${tripId}/read`, { message_id: spam.body.message.id })).status).toBe(200);
      await expect.poll(() => badge(b, "Trip planning").count()).toBe(0);
      // Max invites Jonas to a chat of his: the invite shows up live; Jonas accepts it on the other
      // device, and here the invite goes and the chat comes, live too.
      const deals = await asMax.post("/chats", { name: "Watch deals", members: [jonas.username] });
      expect(deals.status).toBe(201);
      const dealsInvite = b.locator("#invites [data-testid=invite]", { hasText: "Watch deals" });
      await visible(dealsInvite);
      const pending = ((await asJonas.get("/invites")).body.invites as { id: string; chat: { id: string } }[]).find((i) => i.chat.id === deals.body.chat.id)!;
      expect((await asJonas.post(`/invites/${pending.id}/accept`)).status).toBe(200);
      await visible(chatButton(b, "Watch deals"));
      await expect.poll(() => dealsInvite.count()).toBe(0);
      await openChat(b, "Trip planning");
      await choose(message(b, "Cheap watches at spam.example"), "Report…");
      await b.getByLabel("Why report this message?").fill("Spam");
      await b.getByLabel("Why report this message?").press("Enter");
      await visible(b.locator("#room-notice", { hasText: "Reported max's message" }));
      await openChat(a, "Trip planning");
      await expect.poll(() => badge(a, "Trip planning").count()).toBe(0);
      await a.getByRole("button", { name: /^Reports/ }).click();
      await a.locator("#reports [data-testid=report]", { hasText: "Spam" }).getByRole("button", { name: /and delete max's message$/ }).click();
      await visible(a.locator("#room-notice", { hasText: "the message was deleted" }));
      for (const page of [a, b]) await visible(message(page, "This message was deleted"));

      // Jonas blocks Max: Max's messages are hidden from him, new ones never reach him; Maria still sees them.
      expect((await asMax.post(`/chats/${tripId}/messages`, { text: "Still selling watches" })).status).toBe(201);
      await visible(message(b, "Still selling watches"));
      await choose(message(b, "Still selling watches"), "Block max");
      await visible(b.locator("#blocks [data-testid=blocked-user]", { hasText: "max" }));
      await expect.poll(() => message(b, "Still selling watches").isVisible()).toBe(false);
      expect((await asMax.post(`/chats/${tripId}/messages`, { text: "Can you hear me?" })).status).toBe(201);
      await visible(message(a, "Can you hear me?"));
      await send(a, "Max, please stop."); // sent after Max's: when Jonas has it, Max's would have come too
      await visible(message(b, "Max, please stop."));
      expect(await message(b, "Can you hear me?").count()).toBe(0);
      expect(await badge(b, "Trip planning").count()).toBe(0);

      // Back in the side project for the README's screenshot: a conversation with an edit, a tombstone,
      // reactions and "seen by", Max's new line in the other chat's badge, and Jonas typing.
      await openChat(a, "Side project");
      await openChat(b, "Side project");
      await send(b, "Friday works for me. See you there!");
      // Maria owns the chat: she may delete Jonas's message too.
      await message(a, "Friday works for me. See you there!").getByRole("button", { name: "Actions for jonas's message" }).click();
      expect(await message(a, "Friday works for me. See you there!").locator(".menu").getByRole("button").allTextContents()).toEqual(["👍", "❤️", "😂", "🎉", "😮", "Delete", "Report…", "Block jonas"]);
      await message(a, "Friday works for me. See you there!").getByRole("button", { name: "React with ❤️" }).click();
      await visible(message(b, "Friday works for me. See you there!").locator("button.chip", { hasText: "❤️ 1" }));
      await send(a, "Great, it's booked.");
      await visible(message(b, "Great, it's booked."));
      await visible(seenBy(a).filter({ hasText: exactly("Seen by jonas") }));
      expect((await asMax.post(`/chats/${tripId}/messages`, { text: "Is anyone around?" })).status).toBe(201);
      await expect.poll(() => badge(a, "Trip planning").textContent()).toBe("1 unread");
      await b.getByLabel("Message", { exact: true }).pressSequentially("I'll bring the", { delay: 20 });
      await visible(a.locator("#typing", { hasText: "jonas is typing…" }));
      await a.locator("#message-text").blur();
      await a.mouse.move(0, 0); // no message hovered
      expect(await unlabelledFields(a)).toEqual([]);
      await screenshot(a, "demo-chat.png");

      // Jonas unblocks Max: the chat is read again, Max's messages are back.
      await openChat(b, "Trip planning");
      await b.getByRole("button", { name: "Unblock max" }).click();
      await visible(message(b, "Can you hear me?"));
      await visible(b.locator("#blocks-empty"));

      expect(problems(a)).toEqual([]);
      expect(problems(b)).toEqual([]);
    },
    90_000,
  );
});

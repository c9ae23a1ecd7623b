import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumReady, chromiumSkipReason, launchChromium } from "../support/chromium";
import { type SingleNode, startSingleNode } from "../support/fixtures";

/**
 * /docs in headless Chromium: both documents render from the files the api serves itself, under
 * its Content-Security-Policy, with nothing fetched from another origin.
 */
let node: SingleNode;
beforeAll(async () => {
  node = await startSingleNode();
});
afterAll(async () => {
  await node?.close();
});

describe("/docs", () => {
  it.skipIf(!chromiumReady)(`renders the OpenAPI and the AsyncAPI document${chromiumSkipReason}`, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const foreign: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(e.message));
      page.on("request", (r) => {
        if (!r.url().startsWith(node.url) && !r.url().startsWith("data:")) foreign.push(r.url());
      });
      await page.goto(`${node.url}/docs`);
      // Swagger UI lists the operations of /openapi.json.
      await page.getByText("/chats/{id}/presence").first().waitFor({ timeout: 20_000 });
      expect(await page.getByText("/token/refresh").count()).toBeGreaterThan(0);
      await page.getByRole("button", { name: "Socket.IO events (AsyncAPI)" }).click();
      // AsyncAPI's component lists the operations of /asyncapi.json.
      const shown = () => page.locator("#asyncapi").innerText();
      await expect.poll(shown, { timeout: 20_000 }).toContain("message:send");
      for (const event of ["chat:join", "auth:refresh", "presence:leave", "session:ended"]) expect(await shown()).toContain(event);
      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

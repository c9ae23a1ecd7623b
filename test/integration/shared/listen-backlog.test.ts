import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { LISTEN_BACKLOG, listen } from "../../../shared/process";

// Every service listens through shared/process's listen (the gateways' HTTP servers among them).
// When a gateway dies its clients reconnect to the others at once: Node's default backlog of 511
// overflowed in the scale run's kill -9, and each overflow costs a client seconds of SYN-ACK retries.
describe("listen", () => {
  it("asks the kernel for an accept queue of LISTEN_BACKLOG, not Node's 511", async () => {
    const server = createServer();
    const port = await listen(server, 0, "127.0.0.1");
    try {
      // ss shows a listening socket's backlog as its Send-Q; the kernel caps it at net.core.somaxconn.
      const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
      const [state, , sendQ] = execFileSync("ss", ["-ltnH", `sport = :${port}`], { encoding: "utf8" }).trim().split(/\s+/);
      expect(state).toBe("LISTEN");
      expect(Number(sendQ)).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

import { describe, expect, it } from "vitest";
import { LocalSockets } from "../../../../gateway/socket/local-sockets";
import type { GatewaySocket } from "../../../../gateway/socket/types";

const socket = (id: string, userId: string, sessionId: string) => ({ id, data: { userId, sessionId } }) as unknown as GatewaySocket;

describe("a gateway's sockets by user and by session", () => {
  it("finds one, several, and none, whatever order they come and go in", () => {
    const local = new LocalSockets();
    const [a1, a2, a3, b] = [socket("a1", "alice", "s1"), socket("a2", "alice", "s1"), socket("a3", "alice", "s2"), socket("b", "bob", "s3")];
    local.add(a1);
    local.add(b);
    expect(local.ofUser("alice")).toEqual([a1]);
    expect(local.ofSession("s3")).toEqual([b]);
    local.add(a2);
    local.add(a3);
    local.add(a3); // added twice: still once
    expect(local.ofUser("alice")).toEqual([a1, a2, a3]);
    expect(local.ofSession("s1")).toEqual([a1, a2]);
    expect(local.ofSession("s2")).toEqual([a3]);
    local.remove(a1);
    expect(local.ofSession("s1")).toEqual([a2]);
    expect(local.ofUser("alice")).toEqual([a2, a3]);
    local.remove(a3);
    local.remove(a3); // removed twice: no harm
    expect(local.ofUser("alice")).toEqual([a2]);
    local.remove(socket("x", "alice", "s1")); // never added
    expect(local.ofUser("alice")).toEqual([a2]);
    local.remove(a2);
    local.remove(b);
    expect(local.ofUser("alice")).toEqual([]);
    expect(local.ofSession("s1")).toEqual([]);
    expect(local.sizes()).toEqual({ users: 0, sessions: 0 });
  });

  it("hands out copies the caller may change while sockets leave", () => {
    const local = new LocalSockets();
    const [a1, a2] = [socket("a1", "alice", "s1"), socket("a2", "alice", "s1")];
    local.add(a1);
    local.add(a2);
    const mine = local.ofUser("alice");
    for (const s of mine) local.remove(s);
    expect(mine).toEqual([a1, a2]);
    expect(local.ofUser("alice")).toEqual([]);
  });
});

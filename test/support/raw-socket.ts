/** The hand-made Socket.IO client lives with the bench (bench/lib/raw-socket.ts), which uses it too; the tests import it from here. */
export * from "../../bench/lib/raw-socket";

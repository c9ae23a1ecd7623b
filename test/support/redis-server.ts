/** The throwaway redis-server lives with the bench (bench/lib/redis-server.ts), which uses it too; the tests import it from here. */
export * from "../../bench/lib/redis-server";

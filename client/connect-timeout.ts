/**
 * How long a connect attempt waits for the gateway before it gives up and starts a new one
 * (socket.io-client's `timeout`; its default is 20 s, and `socket: { timeout }` still sets another).
 * After a gateway dies, its clients' connections wait in the survivors' accept queues. In a storm of
 * 17,500 clients on one 2-core machine that wait was 25-45 s. A client that gave up at 20 s lost its
 * place and queued again at the back: with 20 s, 33-56 % were back within 90 s, and with 60 s, 99 %
 * (docs/scale.md). Its own module, so the bench's load generators take it without socket.io-client.
 */
export const CONNECT_TIMEOUT_MS = 60_000;

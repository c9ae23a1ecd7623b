/**
 * Keeps a socket's sends in order without running them one at a time. Each task starts at once,
 * so its checks (session, membership, posting limit) overlap with the earlier sends' round trips;
 * it waits at `turn()` until every earlier task has handed its message on (`handedOn()`) or ended.
 * Handed to a store that keeps arrival order (MessageBatch: one statement at a time, ids drawn in
 * order), a socket's messages are stored, and so broadcast, in the order they were sent. The
 * socket's event budget and its in-flight limit bound how many wait.
 */
export function orderedQueue() {
  let tail: Promise<void> = Promise.resolve();
  return <T>(task: (turn: () => Promise<void>, handedOn: () => void) => Promise<T>): Promise<T> => {
    const previous = tail;
    let handOn!: () => void;
    tail = new Promise<void>((resolve) => (handOn = resolve));
    return task(() => previous, handOn).finally(handOn);
  };
}

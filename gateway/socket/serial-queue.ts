/**
 * Runs tasks one after another (a socket's sends are stored, and so broadcast, in the order they
 * were sent). The socket's event budget bounds how many can wait.
 */
export function serialQueue() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };
}

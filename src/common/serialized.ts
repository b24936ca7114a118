/**
 * `task` made safe to call at any moment: one run at a time, and a call during a run asks for
 * one more run after it (however many calls came meanwhile), since what it reads may have changed
 * after the running one read it. Every caller gets the promise that settles once no run is owed;
 * a run that throws ends it there, rejecting for all of them.
 */
export function serialized(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await task();
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}

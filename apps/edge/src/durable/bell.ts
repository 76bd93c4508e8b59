import type { DurableStore, DurableWatch } from '@tokencast/engine';

/**
 * A waiting request's end of a stream's doorbell (DurableStore.watch): rings are remembered until
 * the next wait, so a write that lands between a read and the wait is never slept through.
 */
export class Bell {
  private readonly watch: DurableWatch;
  private rung = false;
  private wake: (() => void) | null = null;
  /**
   * performance.now() of the last ring, or of the subscription taking effect: a read that began
   * before it may have missed a write this bell stands for, so it is not shared with this waiter.
   */
  freshAfter = 0;

  constructor(store: DurableStore, name: string) {
    this.watch = store.watch(name, () => this.ring());
    // Registered before any caller awaits `ready`, so it runs first.
    void this.watch.ready.then(() => {
      this.freshAfter = Math.max(this.freshAfter, performance.now());
    });
  }

  /** Resolves once writes from now on ring this bell. */
  get ready(): Promise<void> {
    return this.watch.ready;
  }

  ring(): void {
    this.freshAfter = performance.now();
    this.rung = true;
    this.wake?.();
  }

  /** Resolves true on a ring (or one since the last wait), false after `ms`. */
  wait(ms: number): Promise<boolean> {
    if (this.rung) {
      this.rung = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.wake = null;
          resolve(false);
        },
        Math.max(0, ms),
      );
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        this.rung = false;
        resolve(true);
      };
    });
  }

  close(): void {
    this.watch.close();
    this.wake?.();
  }
}

import type { DurableStore, DurableWatch } from '@tokencast/engine';

/**
 * A waiting request's end of a stream's doorbell (DurableStore.watch): rings are remembered until
 * the next wait, so a write that lands between a read and the wait is never slept through.
 */
export class Bell {
  private readonly watch: DurableWatch;
  private rung = false;
  private wake: (() => void) | null = null;

  constructor(store: DurableStore, name: string) {
    this.watch = store.watch(name, () => this.ring());
  }

  /** Resolves once writes from now on ring this bell. */
  get ready(): Promise<void> {
    return this.watch.ready;
  }

  ring(): void {
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

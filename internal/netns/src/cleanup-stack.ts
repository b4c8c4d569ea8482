// A minimal async clean-up stack (Node 20 has no AsyncDisposableStack): each
// step that acquires a resource registers its undo, and a failure half-way
// unwinds exactly what was taken, newest first.
export class CleanupStack {
  readonly #undo: Array<() => Promise<unknown>> = [];

  push(undo: () => Promise<unknown>): void {
    this.#undo.push(undo);
  }

  /** Forget the undo steps: the work succeeded and now owns its resources. */
  dismiss(): void {
    this.#undo.length = 0;
  }

  /** Runs every undo step; errors are collected so one failure does not strand the rest. */
  async unwind(): Promise<unknown[]> {
    const errors: unknown[] = [];
    while (this.#undo.length > 0) {
      const undo = this.#undo.pop();
      try {
        await undo?.();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }
}

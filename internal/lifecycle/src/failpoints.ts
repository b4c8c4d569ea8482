// Failpoints (the gofail pattern from etcd's robustness tests): named places
// just after a side effect where a test can make the process "crash". They
// are compiled in and cost one Map lookup when disarmed, which is always
// outside tests.

/** Thrown by an armed failpoint. Components treat it as sudden death: they stop and write nothing more. */
export class FailpointCrash extends Error {
  readonly failpoint: string;
  constructor(name: string) {
    super(`failpoint ${name} crashed the process`);
    this.name = "FailpointCrash";
    this.failpoint = name;
  }
}

export class Failpoints {
  private readonly armed = new Map<string, number>();
  private readonly fired = new Set<string>();

  /** The next `times` hits of `name` crash. */
  arm(name: string, times = 1): void {
    this.armed.set(name, times);
    this.fired.delete(name);
  }

  disarmAll(): void {
    this.armed.clear();
  }

  hasFired(name: string): boolean {
    return this.fired.has(name);
  }

  hit(name: string): void {
    const left = this.armed.get(name);
    if (left === undefined) return;
    if (left <= 1) this.armed.delete(name);
    else this.armed.set(name, left - 1);
    this.fired.add(name);
    throw new FailpointCrash(name);
  }
}

/** The process-wide set: disarmed unless a test arms it. */
export const failpoints = new Failpoints();

export function isCrash(err: unknown): err is FailpointCrash {
  return err instanceof FailpointCrash;
}

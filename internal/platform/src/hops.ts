// TEMPORARY: timestamps at each hop of a request, to a file named by BOXYARD_HOPS.
import { appendFileSync } from "node:fs";
const file = process.env.BOXYARD_HOPS;
export const hop: (name: string) => void = file
  ? (name) => appendFileSync(file, `${(performance.timeOrigin + performance.now()).toFixed(2)} ${name}\n`)
  : () => {};

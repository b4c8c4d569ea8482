export { buildProgram, main, VERSION } from "./main.ts";

// The slice of pino this package logs through, so callers can pass a pino
// logger (or a test double) without this package depending on pino.

type LogFn = (fields: Record<string, unknown>, message: string) => void;

export interface Logger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export const silentLogger: Logger = {
  info: () => {},
  warn: () => {},
  error: () => {},
};

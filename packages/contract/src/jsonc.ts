// JSONC: JSON with comments and trailing commas, the way devcontainer.json is
// written. Parsed into plain values with errors that give the line and column;
// the source span of each top-level member's value is kept so that a tool can
// replace one value and leave every comment in place (the CLI puts an
// uploaded archive's digest where devcontainer.json named its path).

export class JsoncError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
  }
}

export interface JsoncDocument {
  value: unknown;
  /** For a top-level object: each member's value as [start, end) offsets into the text. */
  spans: Map<string, { start: number; end: number }>;
}

const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function parseJsonc(text: string): JsoncDocument {
  let i = 0;
  const spans = new Map<string, { start: number; end: number }>();

  const fail = (reason: string, at = i): never => {
    const before = text.slice(0, at).split("\n");
    throw new JsoncError(reason, before.length, before[before.length - 1]!.length + 1);
  };

  const skip = () => {
    for (;;) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\uFEFF") i++;
      else if (c === "/" && text[i + 1] === "/") {
        const end = text.indexOf("\n", i);
        i = end === -1 ? text.length : end;
      } else if (c === "/" && text[i + 1] === "*") {
        const end = text.indexOf("*/", i + 2);
        if (end === -1) fail("unterminated /* comment");
        i = end + 2;
      } else return;
    }
  };

  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("unterminated string", start);
    i++;
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail("bad string (control character or escape)", start);
    }
  };

  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail("nested too deeply");
    skip();
    const c = text[i];
    if (c === "{") {
      i++;
      // Members are defined, not assigned: a key "__proto__" is data, never the prototype.
      const out: Record<string, unknown> = {};
      for (;;) {
        skip();
        if (text[i] === "}") {
          i++;
          return out;
        }
        if (text[i] !== '"') fail('expected a "key" or }');
        const key = string();
        skip();
        if (text[i] !== ":") fail("expected :");
        i++;
        skip();
        const start = i;
        const v = value(depth + 1);
        if (depth === 0) spans.set(key, { start, end: i });
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== "}") fail("expected , or }");
      }
    }
    if (c === "[") {
      i++;
      const out: unknown[] = [];
      for (;;) {
        skip();
        if (text[i] === "]") {
          i++;
          return out;
        }
        out.push(value(depth + 1));
        skip();
        if (text[i] === ",") i++;
        else if (text[i] !== "]") fail("expected , or ]");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const)
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail(i >= text.length ? "unexpected end of text" : `unexpected ${JSON.stringify(c)}`);
  };

  const v = value(0);
  skip();
  if (i < text.length) fail("unexpected text after the value");
  return { value: v, spans };
}

/** The text with one top-level member's value replaced by `replacement` (JSON), everything else kept. */
export function replaceTopLevelValue(text: string, key: string, replacement: unknown): string {
  const span = parseJsonc(text).spans.get(key);
  if (!span) throw new Error(`no top-level member ${key}`);
  return text.slice(0, span.start) + JSON.stringify(replacement) + text.slice(span.end);
}

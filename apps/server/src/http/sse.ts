import type { ServerResponse } from "node:http";

/**
 * Open Server-Sent Event streams. Fastify's close waits for connections to
 * go idle, which a stream never does, so shutdown ends them first.
 */
export class SseStreams {
  private readonly open = new Set<() => void>();

  /** Starts an event stream on a hijacked response; `end` runs once, however it ends. */
  begin(
    raw: ServerResponse,
    requestId: string,
    onEnd: () => void,
  ): { send(event: string, data: unknown, id?: number): void; comment(text: string): void; end(): void } {
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-request-id": requestId,
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.open.delete(end);
      onEnd();
      raw.end();
    };
    this.open.add(end);
    raw.on("close", end);
    return {
      send(event, data, id) {
        if (ended) return;
        raw.write(
          `${id !== undefined ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
        );
      },
      comment(text) {
        if (!ended) raw.write(`: ${text}\n\n`);
      },
      end,
    };
  }

  closeAll(): void {
    for (const end of [...this.open]) end();
  }
}

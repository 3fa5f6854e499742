/** One server-sent event. */
export type SseEvent = { id: string | undefined; event: string; data: string };

/**
 * Incremental parser of a text/event-stream body (WHATWG rules for `id`, `event`, `data`,
 * comments and blank-line dispatch); feed it chunks, get complete events back.
 *
 * @example const p = createSseParser(); for (const e of p.push(chunk)) handle(e);
 */
export function createSseParser(): { push(chunk: string): SseEvent[] } {
  let buf = '';
  let id: string | undefined;
  let event = 'message';
  let data: string[] = [];
  return {
    push(chunk) {
      buf += chunk;
      const out: SseEvent[] = [];
      let nl = buf.search(/\r?\n|\r/);
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (data.length > 0) out.push({ id, event, data: data.join('\n') });
          event = 'message';
          data = [];
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(value);
          else if (field === 'event') event = value;
          else if (field === 'id') id = value;
        }
        nl = buf.search(/\r?\n|\r/);
      }
      return out;
    },
  };
}

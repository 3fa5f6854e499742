/** One server-sent event. */
export type SseEvent = { id: string | undefined; event: string; data: string };

/** A line longer than this (1 MiB) ends the stream: no coordinator event comes close. */
export const MAX_SSE_LINE_CHARS = 1 << 20;

/**
 * Incremental parser of a text/event-stream body (WHATWG rules for `id`, `event`, `data`,
 * comments and blank-line dispatch); feed it chunks, get complete events back. However the stream
 * is cut into chunks, the events are the same (a CR at the end of one chunk and an LF at the start
 * of the next are one line break). Lines are found by index, so a chunk of n lines costs O(n), and
 * an unterminated line longer than {@link MAX_SSE_LINE_CHARS} throws rather than growing without end.
 *
 * @example const p = createSseParser(); for (const e of p.push(chunk)) handle(e);
 */
export function createSseParser(): { push(chunk: string): SseEvent[] } {
  let buf = '';
  /** The previous chunk ended in CR: an LF that starts this one belongs to that line break. */
  let skipLf = false;
  let id: string | undefined;
  let event = 'message';
  let data: string[] = [];
  const line = (text: string, out: SseEvent[]): void => {
    if (text === '') {
      if (data.length > 0) out.push({ id, event, data: data.join('\n') });
      event = 'message';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
  };
  return {
    push(chunk) {
      let text = buf + chunk;
      buf = '';
      if (skipLf && text.startsWith('\n')) text = text.slice(1);
      skipLf = false;
      const out: SseEvent[] = [];
      let start = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(text.slice(start, i), out);
        if (c === 13) {
          if (i + 1 === text.length) skipLf = true;
          else if (text.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      buf = text.slice(start);
      if (buf.length > MAX_SSE_LINE_CHARS) {
        throw new Error(`an event-stream line is over ${MAX_SSE_LINE_CHARS} characters without a line break`);
      }
      return out;
    },
  };
}

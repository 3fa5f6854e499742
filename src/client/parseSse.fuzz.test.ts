/**
 * Fuzzing the SDK's event-stream parser, which reads whatever a coordinator (or anything listening
 * at its URL) sends: the events do not depend on how the stream is cut into chunks, and events
 * written by the rules come back as written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fuzzRuns } from '../protocol/fuzzRuns.ts';
import { createSseParser, type SseEvent } from './parseSse.ts';

function parseInChunks(stream: string, cuts: number[]): SseEvent[] {
  const p = createSseParser();
  const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: SseEvent[] = [];
  let prev = 0;
  for (const c of [...at, stream.length]) {
    out.push(...p.push(stream.slice(prev, c)));
    prev = c;
  }
  return out;
}

const lineText = fc.string({ maxLength: 12 }).map((s) => s.replace(/[\r\n]/g, ''));
const eol = fc.constantFrom('\n', '\r', '\r\n');

test('regression: a CR at the end of a chunk and an LF at the start of the next are one line break', () => {
  const p = createSseParser();
  assert.deepEqual(p.push('data: a\r'), []);
  assert.deepEqual(p.push('\ndata: b\r\n\r\n'), [{ id: undefined, event: 'message', data: 'a\nb' }]);
});

test('fuzz: any stream cut anywhere gives the same events as in one piece', () => {
  const stream = fc
    .array(
      fc.tuple(
        fc.oneof(
          lineText,
          lineText.map((t) => `data: ${t}`),
          lineText.map((t) => `id: ${t}`),
        ),
        eol,
      ),
      {
        maxLength: 20,
      },
    )
    .map((lines) => lines.map(([l, e]) => l + e).join(''));
  fc.assert(
    fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (s, cuts) => {
      assert.deepEqual(parseInChunks(s, cuts), createSseParser().push(s));
    }),
    fuzzRuns([['data: a\r\ndata: b\r\n\r\n', [8]]]),
  );
});

test('fuzz: events written by the rules are read back as written', () => {
  const ev = fc.record({
    id: lineText,
    event: lineText.filter((t) => t.length > 0),
    data: fc.array(lineText, { minLength: 1, maxLength: 3 }),
  });
  fc.assert(
    fc.property(
      fc.array(ev, { maxLength: 6 }),
      eol,
      fc.array(fc.nat(), { maxLength: 6 }),
      (events, e, cuts) => {
        const s = events
          .map(
            (x) => `id: ${x.id}${e}event: ${x.event}${e}${x.data.map((d) => `data: ${d}${e}`).join('')}${e}`,
          )
          .join('');
        const got = parseInChunks(s, cuts);
        assert.deepEqual(
          got,
          events.map((x) => ({ id: x.id, event: x.event, data: x.data.join('\n') })),
        );
      },
    ),
    fuzzRuns(),
  );
});

test('an endless line is refused instead of buffered without bound', () => {
  const p = createSseParser();
  const piece = 'x'.repeat(64 * 1024);
  assert.throws(() => {
    for (let i = 0; i < 20; i++) p.push(piece);
  }, /without a line break/);
});

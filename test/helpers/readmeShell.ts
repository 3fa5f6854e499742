/**
 * The README's `sh` blocks as a shell session reads them: one entry per command line
 * (continuations joined, comments dropped), with the section it sits in and its line number.
 * test/readmeDevnet.test.ts runs them; test/readme.test.ts checks them against the command tree.
 */

/** One command line of a README `sh` block. */
export type ReadmeLine = { section: string; line: number; text: string };

/**
 * Every command line of the markdown's ```sh blocks, in order.
 *
 * @example readmeShellLines('## A\n```sh\nnpx plexus job status 0x…   # a job\n```') // [{ section: 'A', line: 3, text: 'npx plexus job status 0x…' }]
 */
export function readmeShellLines(markdown: string): ReadmeLine[] {
  const out: ReadmeLine[] = [];
  const lines = markdown.split('\n');
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{1,4} (.+)$/.exec(lines[i]!);
    if (heading) section = heading[1]!.trim();
    if (lines[i]!.trim() !== '```sh') continue;
    let text = '';
    let start = i + 1;
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      if (text === '') start = i + 1;
      // A comment starts at `#` after a space (or at the line's start); `#` inside words stays.
      const code = lines[i]!.replace(/(^|\s)#.*$/, '').trimEnd();
      if (code.endsWith('\\')) {
        text += `${code.slice(0, -1).trim()} `;
        continue;
      }
      text = `${text}${code.trim()}`.replace(/\s+/g, ' ').trim();
      if (text !== '') out.push({ section, line: start, text });
      text = '';
    }
  }
  return out;
}

/** Shell words of one line: quotes grouped and removed, no globbing or substitution. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

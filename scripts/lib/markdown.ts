/** Reading Markdown and code text for the reference check (references.ts). */

/** GitHub's id of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a Markdown text offers: its headings' ids (repeats get `-1`, `-2`, …). */
export function markdownAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(text).split('\n')) {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m?.[1]) continue;
    const slug = headingSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) if (m[1]) anchors.add(m[1]);
  return anchors;
}

/** Blanks fenced code blocks (keeping line numbers): a link in an example is not a link. */
export function withoutFences(text: string): string {
  let fenced = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line;
    })
    .join('\n');
}

/** Blanks inline code spans: `[a](b)` inside backticks is text, not a link. */
export function withoutInlineCode(line: string): string {
  return line.replace(/`[^`]*`/g, (span) => ' '.repeat(span.length));
}

/** The comment part of a line of code (`// …`, `/* …`, ` * …`, `# …`), or ''. */
export function commentOf(line: string): string {
  const start = /^\s*(\/\*+|\*|#)/.exec(line);
  if (start) return line;
  const slashes = line.search(/(?<!:)\/\//);
  return slashes >= 0 ? ' '.repeat(slashes) + line.slice(slashes) : '';
}

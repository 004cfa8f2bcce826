/** Longest order name put into card text; longer names are cut with an ellipsis. */
const MAX_NAME = 160;

/**
 * Makes text from the request safe to embed in a card's GitHub-flavoured Markdown `detail` (CDS Hooks 2.0 §Card):
 * every Markdown and HTML metacharacter is backslash-escaped and line breaks are folded, so an order called
 * `[click](http://evil)` or `<img onerror=…>` renders as the literal text.
 */
export function escapeMarkdown(text: string, max = MAX_NAME): string {
  const folded = text.replace(/[\r\n\t\u2028\u2029]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
  const cut = folded.length > max ? `${folded.slice(0, max - 1)}…` : folded;
  return cut.replace(/[\\`*_{}[\]()#+\-.!|<>~&"'=:]/g, (c) => `\\${c}`);
}

import { FhirPathSyntaxError, tokenize, topLevelOperators } from './lexer';
import type { Token } from './lexer';

/**
 * The outermost Boolean structure of an expression: an `or` of operands, an `and` of operands, or one atom that is
 * not split further. FHIRPath precedence (N1 §6, operator table): `implies` < `or`, `xor` < `and` < everything
 * else, so operands cut at the top-level `or` (then `and`) of a valid expression are valid expressions themselves.
 * An expression with a top-level `implies` or `xor` is an atom.
 */
export type BooleanNode =
  | { kind: 'or' | 'and'; operands: BooleanNode[] }
  | { kind: 'atom'; text: string; tokens: Token[] };

function slice(source: string, tokens: readonly Token[], from: number, to: number): { text: string; tokens: Token[] } {
  const part = tokens.slice(from, to);
  const first = part[0];
  const last = part[part.length - 1];
  if (!first || !last) throw new FhirPathSyntaxError('an operator without an operand');
  const base = first.depth;
  // Re-based depths, so the operand's own top level is 0.
  return { text: source.slice(first.start, last.end), tokens: part.map((t) => ({ ...t, depth: t.depth - base, start: t.start - first.start, end: t.end - first.start })) };
}

/** The tokens inside one pair of parentheses that encloses the whole expression, if there is one. */
function innerOfParentheses(tokens: readonly Token[]): { from: number; to: number } | undefined {
  const first = tokens[0];
  const last = tokens[tokens.length - 1];
  if (first?.kind !== 'open' || first.text !== '(' || last?.kind !== 'close') return undefined;
  // The opening parenthesis must close at the very end: `(a) and (b)` is not enclosed.
  for (let i = 1; i < tokens.length - 1; i++) if ((tokens[i] as Token).depth === 0) return undefined;
  return tokens.length > 2 ? { from: 1, to: tokens.length - 1 } : undefined;
}

function splitAt(source: string, tokens: readonly Token[], indices: number[]): Array<{ text: string; tokens: Token[] }> {
  const parts: Array<{ text: string; tokens: Token[] }> = [];
  let from = 0;
  for (const index of indices) {
    parts.push(slice(source, tokens, from, index));
    from = index + 1;
  }
  parts.push(slice(source, tokens, from, tokens.length));
  return parts;
}

function booleanOf(source: string, tokens: Token[]): BooleanNode {
  const inner = innerOfParentheses(tokens);
  if (inner) {
    const part = slice(source, tokens, inner.from, inner.to);
    return booleanOf(part.text, part.tokens);
  }
  const operators = topLevelOperators(tokens);
  if (operators.some((o) => o.operator === 'implies' || o.operator === 'xor')) return { kind: 'atom', text: source, tokens };
  for (const kind of ['or', 'and'] as const) {
    const at = operators.filter((o) => o.operator === kind).map((o) => o.index);
    if (at.length > 0) return { kind, operands: splitAt(source, tokens, at).map((p) => booleanOf(p.text, p.tokens)) };
  }
  return { kind: 'atom', text: source, tokens };
}

/** Parses the outermost `or` / `and` structure of an expression (throws FhirPathSyntaxError on lexical errors). */
export function booleanStructure(expression: string): BooleanNode {
  const tokens = tokenize(expression);
  if (tokens.length === 0) throw new FhirPathSyntaxError('empty expression');
  return booleanOf(expression, tokens);
}

/**
 * The operands of a top-level `&` chain (FHIRPath §6.6.7 string concatenation), as source text, when `&` is the
 * only operator at the top level; undefined otherwise. `&` shares its precedence with `+` and `-` and every other
 * operator binds less tightly, so any other top-level operator would change how the chain groups.
 */
export function concatenationOperands(expression: string): string[] | undefined {
  const tokens = tokenize(expression);
  const operators = topLevelOperators(tokens);
  if (operators.length === 0 || operators.some((o) => o.operator !== '&')) return undefined;
  return splitAt(expression, tokens, operators.map((o) => o.index)).map((p) => p.text);
}

/** The `%variables` an expression reads (external constants, FHIRPath §8.5), each once, in order of appearance. */
export function constantsRead(expression: string): string[] {
  return [...new Set(tokenize(expression).filter((t) => t.kind === 'constant').map((t) => t.text))];
}

/**
 * The expression with comments and insignificant whitespace removed: tokens joined with a space only between two
 * words. Recognisers (engine/condition-forms.ts) match forms on this text, so layout never changes a match.
 */
export function canonicalText(tokens: readonly Token[], source: string): string {
  let out = '';
  let previous: Token | undefined;
  const word = (t: Token | undefined): boolean => t !== undefined && (t.kind === 'identifier' || t.kind === 'number' || t.kind === 'constant');
  for (const t of tokens) {
    if (word(previous) && word(t)) out += ' ';
    out += source.slice(t.start, t.end);
    previous = t;
  }
  return out;
}

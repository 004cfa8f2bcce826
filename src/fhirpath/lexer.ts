/**
 * A lexer for FHIRPath expression text (FHIRPath N1 §8 "Lexical Elements"), enough to see an expression's top-level
 * structure without evaluating it: which binary operators join its outermost operands, where it can be split, and
 * which `%variables` it reads. It never interprets anything; fhirpath.js does that. Tokens carry their depth
 * (parentheses, brackets and braces) and their offsets in the source, so a split is a slice of the text.
 */

export type TokenKind =
  | 'string' // 'text' (§8.3 String), escapes left as written
  | 'identifier' // name, `delimited name`, $this / $index / $total
  | 'constant' // %name, %`name`, %'name' (external constant, §8.5)
  | 'number'
  | 'datetime' // @2020-01-01, @T12:00 (§8.4)
  | 'open' // ( [ {
  | 'close' // ) ] }
  | 'symbol'; // . , and the operator symbols

export interface Token {
  kind: TokenKind;
  /** The source text of the token (for a constant, the variable's name without % or quotes). */
  text: string;
  start: number;
  end: number;
  /** Nesting depth outside the token: 0 at the top level of the expression. */
  depth: number;
}

/** FHIRPath's keyword operators (§6, operator table): a word token in operator position is one of these. */
export const KEYWORD_OPERATORS: ReadonlySet<string> = new Set(['and', 'or', 'xor', 'implies', 'in', 'contains', 'is', 'as', 'div', 'mod']);

const SYMBOLS = ['<=', '>=', '!=', '!~', '=', '~', '<', '>', '|', '&', '+', '-', '*', '/', '.', ','];

/** Thrown for text that is not FHIRPath at the lexical level (an unterminated string, unbalanced parentheses). */
export class FhirPathSyntaxError extends Error {}

function quoted(source: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  throw new FhirPathSyntaxError(`unterminated ${quote === "'" ? 'string' : 'delimited identifier'} starting at ${start}`);
}

/** Splits expression text into tokens; comments and whitespace are dropped. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  const push = (kind: TokenKind, text: string, start: number, end: number): void => {
    tokens.push({ kind, text, start, end, depth });
  };
  while (i < source.length) {
    const c = source[i] ?? '';
    const next = source[i + 1] ?? '';
    if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && next === '/') {
      const eol = source.indexOf('\n', i);
      i = eol < 0 ? source.length : eol + 1;
    } else if (c === '/' && next === '*') {
      const close = source.indexOf('*/', i + 2);
      if (close < 0) throw new FhirPathSyntaxError(`unterminated comment starting at ${i}`);
      i = close + 2;
    } else if (c === "'") {
      const end = quoted(source, i, "'");
      push('string', source.slice(i, end), i, end);
      i = end;
    } else if (c === '`') {
      const end = quoted(source, i, '`');
      push('identifier', source.slice(i, end), i, end);
      i = end;
    } else if (c === '%') {
      if (next === "'" || next === '`') {
        const end = quoted(source, i + 1, next);
        push('constant', source.slice(i + 2, end - 1), i, end);
        i = end;
      } else {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i + 1));
        if (!m) throw new FhirPathSyntaxError(`% without a name at ${i}`);
        push('constant', m[0], i, i + 1 + m[0].length);
        i += 1 + m[0].length;
      }
    } else if (c === '@') {
      const m = /^@[0-9T:.+\-Z]*/.exec(source.slice(i));
      const end = i + (m?.[0].length ?? 1);
      push('datetime', source.slice(i, end), i, end);
      i = end;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i)) as RegExpExecArray;
      push('number', m[0], i, i + m[0].length);
      i += m[0].length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^\$?[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
      if (!m) throw new FhirPathSyntaxError(`unexpected "${c}" at ${i}`);
      push('identifier', m[0], i, i + m[0].length);
      i += m[0].length;
    } else if (c === '(' || c === '[' || c === '{') {
      push('open', c, i, i + 1);
      depth++;
      i++;
    } else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth < 0) throw new FhirPathSyntaxError(`unbalanced "${c}" at ${i}`);
      push('close', c, i, i + 1);
      i++;
    } else {
      const symbol = SYMBOLS.find((s) => source.startsWith(s, i));
      if (!symbol) throw new FhirPathSyntaxError(`unexpected "${c}" at ${i}`);
      push('symbol', symbol, i, i + symbol.length);
      i += symbol.length;
    }
  }
  if (depth !== 0) throw new FhirPathSyntaxError('unbalanced parentheses');
  return tokens;
}

/** True when the token ends an operand, so what follows it is in operator position. */
function endsOperand(t: Token | undefined): boolean {
  if (!t) return false;
  if (t.kind === 'close' || t.kind === 'string' || t.kind === 'constant' || t.kind === 'number' || t.kind === 'datetime') return true;
  return t.kind === 'identifier' && !KEYWORD_OPERATORS.has(t.text);
}

/**
 * The binary operators at depth 0, each with its index in `tokens`: a keyword operator is a word in operator
 * position (after an operand, and not a member name after `.`); a symbol is binary when it follows an operand.
 * `.` and `,` are not operators.
 */
export function topLevelOperators(tokens: readonly Token[]): Array<{ operator: string; index: number }> {
  const out: Array<{ operator: string; index: number }> = [];
  tokens.forEach((t, index) => {
    if (t.depth !== 0) return;
    const previous = tokens[index - 1];
    if (t.kind === 'identifier' && KEYWORD_OPERATORS.has(t.text) && endsOperand(previous) && previous?.text !== '.') {
      out.push({ operator: t.text, index });
    } else if (t.kind === 'symbol' && t.text !== '.' && t.text !== ',') {
      // A unary + or - (at the start, or after an operator or an opening parenthesis) still counts: it is an
      // operator at the top level, and the callers only split expressions that have none but the one they split on.
      out.push({ operator: t.text, index });
    }
  });
  return out;
}

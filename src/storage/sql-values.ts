/**
 * Builds a multi-row `VALUES (...), (...)` list with numbered parameters and an explicit cast on each, so one
 * INSERT writes a whole batch and both drivers agree on the types (PGlite infers nothing from JS values).
 */
export function valuesList(rows: readonly (readonly unknown[])[], casts: readonly string[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const tuples = rows.map((row) => {
    if (row.length !== casts.length) throw new Error(`valuesList: a row has ${row.length} values for ${casts.length} columns`);
    const cells = row.map((value, i) => {
      params.push(value);
      return `$${params.length}::${casts[i] ?? 'text'}`;
    });
    return `(${cells.join(', ')})`;
  });
  return { sql: tuples.join(',\n'), params };
}

/**
 * Escapes in JSON text that PostgreSQL's jsonb refuses: `\u0000` (text cannot hold NUL) and a UTF-16 surrogate
 * escape. JSON.stringify writes paired surrogates as the characters themselves and escapes only unpaired ones
 * (ES2019 well-formed JSON.stringify), so every `\uD800`–`\uDFFF` escape in its output is unpaired. Escaped
 * backslashes are matched too, so that the text "\\u0000" (a backslash, then u0000) is left alone.
 */
const JSONB_REFUSED = /\\(?:\\|u0000|ud[89a-f][0-9a-f]{2})/g;
const storableJson = (json: string): string => (json.includes('\\u0000') || json.includes('\\ud')
  ? json.replace(JSONB_REFUSED, (escape) => (escape === '\\\\' ? escape : '\\ufffd'))
  : json);

/** Rows per `recordset` statement (its one jsonb parameter stays a few MB): `chunkRows(rows, 1, ROWS_PER_RECORDSET)`. */
export const ROWS_PER_RECORDSET = 5_000;

/**
 * Rows as ONE jsonb parameter, expanded in the database: `SELECT <columns> FROM jsonb_to_recordset($1::jsonb) AS
 * r(<column> <type>, …)`, for `INSERT INTO t (<columns>) <sql>`. Whatever the number of rows, the statement has one
 * bind parameter and a fixed text: PostgreSQL parses and plans it in constant time, where a `VALUES` list of n rows
 * is n × columns casts to analyse (measured in PGlite, one core: 1,000 assertion rows 90–107 → 54–56 ms, 6 rows
 * 1.15–1.44 → 0.88–1.01 ms). Values are JSON: a jsonb column takes the value itself (not its JSON text), a `text[]`
 * column a JSON array (PostgreSQL ≥ 10 converts nested arrays), undefined and null are NULL. Text PostgreSQL cannot
 * hold — NUL, and UTF-16 surrogates without their pair, which jsonb refuses as escapes — becomes U+FFFD: a hostile
 * string in an audited field (a refused call's hookInstance) is stored, marked, instead of failing its row.
 */
export function recordset(rows: readonly (readonly unknown[])[], columns: readonly string[], types: readonly string[]): { sql: string; params: [string] } {
  if (types.length !== columns.length) throw new Error('recordset: one type per column');
  const records = rows.map((row) => {
    if (row.length !== columns.length) throw new Error(`recordset: a row has ${row.length} values for ${columns.length} columns`);
    const record: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) record[columns[i] as string] = row[i] ?? null;
    return record;
  });
  const definition = columns.map((c, i) => `${c} ${types[i] ?? 'text'}`).join(', ');
  return { sql: `SELECT ${columns.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS r(${definition})`, params: [storableJson(JSON.stringify(records))] };
}

/**
 * Splits rows so no statement exceeds PostgreSQL's 65,535 bind parameters (kept well under, so statements stay
 * small enough to plan quickly).
 */
export function chunkRows<R>(rows: readonly R[], columns: number, maxParams = 20_000): R[][] {
  const size = Math.max(1, Math.floor(maxParams / Math.max(1, columns)));
  const chunks: R[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

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
 * Splits rows so no statement exceeds PostgreSQL's 65,535 bind parameters (kept well under, so statements stay
 * small enough to plan quickly).
 */
export function chunkRows<R>(rows: readonly R[], columns: number, maxParams = 20_000): R[][] {
  const size = Math.max(1, Math.floor(maxParams / Math.max(1, columns)));
  const chunks: R[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

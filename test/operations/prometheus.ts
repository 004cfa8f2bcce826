/**
 * A small parser for the Prometheus text exposition format (version 0.0.4), enough to check what /metrics
 * exposes: `# HELP`, `# TYPE`, and samples `name{label="value",…} value [timestamp]` with escaped label values.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Metric family name → type (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  const n = Number(raw);
  if (Number.isNaN(n)) throw new Error(`not a sample value: ${raw}`);
  return n;
}

/** Parses `{a="x",b="y\"z"}` starting at `line[start] === '{'`; returns the labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!nameMatch) throw new Error(`bad label name at ${i}: ${line}`);
    const name = nameMatch[0];
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`expected ="… after ${name}: ${line}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) throw new Error(`unterminated label value: ${line}`);
      if (c === '\\') {
        const next = line[i + 1];
        value += next === 'n' ? '\n' : next ?? '';
        i += 2;
        continue;
      }
      if (c === '"') {
        i++;
        break;
      }
      value += c;
      i++;
    }
    labels[name] = value;
  }
}

export function parsePrometheus(text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (m?.[1] === 'TYPE') out.types.set(m[2]!, m[3]!.trim());
      else if (m?.[1] === 'HELP') out.help.set(m[2]!, m[3]!);
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`bad sample line: ${line}`);
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i));
    const rest = line.slice(i).trim().split(/\s+/);
    if (!rest[0]) throw new Error(`sample without a value: ${line}`);
    out.samples.push({ name, labels, value: parseValue(rest[0]) });
  }
  return out;
}

/** Samples of `name` whose labels include all of `match`. */
export function samplesOf(exposition: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the samples of `name` whose labels include `match`; throws when there is none. */
export function valueOf(exposition: Exposition, name: string, match: Record<string, string> = {}): number {
  const found = samplesOf(exposition, name, match);
  if (found.length === 0) throw new Error(`no sample ${name}${JSON.stringify(match)} in the exposition`);
  return found.reduce((sum, s) => sum + s.value, 0);
}

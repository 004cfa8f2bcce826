import { chartedMeasure, measureSeries, studyLabel } from '../engine/evidence-summary';
import type { EvidenceLike } from '../engine/evidence-summary';
import { h, s } from './dom';

const W = 640;
const H = 300;
const PAD = { left: 48, right: 130, top: 16, bottom: 44 };
const COLORS = ['#0b5cad', '#b4410e', '#2e7d32', '#6a1b9a', '#00695c', '#8d6e00'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2', '10 4'];
/** Time ticks (hours) on a log axis: before, 1 day, 1 week, 1 month, 6 months, 1 year, 2.5 years. */
const TICKS: Array<[number, string]> = [[0, 'before'], [24, '1 d'], [168, '1 wk'], [730, '1 mo'], [4380, '6 mo'], [8766, '1 yr'], [21900, '2.5 yr']];
const MAX_HOURS = 21900;

const plotWidth = W - PAD.left - PAD.right - 90; // the last 90 px hold "time not reported"
const x = (hours: number | undefined): number =>
  hours === undefined ? W - PAD.right - 20 : PAD.left + (Math.log10(1 + Math.min(hours, MAX_HOURS)) / Math.log10(1 + MAX_HOURS)) * plotWidth;

/** A round axis top above the largest value: 10 for VAS scores, 60 for an ODI of 48, 100 for percentages. */
function axisTop(max: number): number {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return Math.ceil(max / step) * step;
}

/**
 * The measure the studies most often report over time (chartedMeasure: pain on a VAS for one policy, a disability
 * index for another), one line per study with a before/after series, drawn as SVG by the app (no charting
 * library, no CDN). Time is on a log axis; follow-ups the study gives no time for sit in their own column. The
 * evidence table carries the same numbers as text. Nothing is drawn when no study reports a series.
 */
export function evidenceChart(evidence: EvidenceLike[]): HTMLElement | undefined {
  const charted = chartedMeasure(evidence);
  if (!charted) return undefined;
  const { measure, unit } = charted;
  const series = evidence.map((e) => ({ e, ...measureSeries(e, measure) })).filter((p) => p.points.length >= 2);
  const top = axisTop(Math.max(...series.flatMap((p) => p.points.map((q) => q.value))));
  const y = (v: number): number => PAD.top + (1 - v / top) * (H - PAD.top - PAD.bottom);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', 'data-testid': 'evidence-chart', class: 'chart' },
    s('title', { id: 'chart-title' }, `${measure.label} before and after, by study`),
    s('desc', { id: 'chart-desc' }, series.map((p) => `${p.e.title ?? ''}: ${p.points.map((q) => q.value).join(', ')}`).join('; ')));
  for (let i = 0; i <= 5; i++) {
    const v = (top / 5) * i;
    svg.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }), s('text', { x: PAD.left - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, Number(v.toFixed(2))));
  }
  for (const [hours, label] of TICKS) svg.append(s('text', { x: x(hours), y: H - PAD.bottom + 18, 'text-anchor': 'middle', class: 'tick' }, label));
  svg.append(s('text', { x: x(undefined), y: H - PAD.bottom + 18, 'text-anchor': 'middle', class: 'tick' }, 'time n/r'));
  const axisLabel = unit ? `${measure.label} (${unit})` : measure.label;
  svg.append(s('text', { x: 12, y: PAD.top + (H - PAD.top - PAD.bottom) / 2, transform: `rotate(-90 12 ${PAD.top + (H - PAD.top - PAD.bottom) / 2})`, 'text-anchor': 'middle', class: 'axis' }, axisLabel));
  series.forEach((item, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const label = studyLabel(item.e);
    const g = s('g', { 'data-study': label, class: 'series' });
    g.append(s('polyline', { points: item.points.map((p) => `${x(p.hours).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-dasharray': DASHES[i % DASHES.length] }));
    for (const p of item.points) g.append(s('circle', { cx: x(p.hours).toFixed(1), cy: y(p.value).toFixed(1), r: 4, fill: color }, s('title', {}, `${label}: ${p.label} = ${p.value}`)));
    g.append(s('text', { x: W - PAD.right + 8, y: PAD.top + 14 + i * 18, class: 'legend', fill: color }, `— ${label}`));
    svg.append(g);
  });
  const others = evidence.length - series.length;
  return h('figure', { class: 'chart-figure' }, svg as unknown as HTMLElement,
    h('figcaption', { class: 'muted' }, `${measure.label} per study.${others > 0 ? ` ${others} ${others === 1 ? 'study reports' : 'studies report'} no series of it over time; see the table.` : ''}`));
}

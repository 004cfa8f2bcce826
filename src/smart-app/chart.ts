import { painSeries } from '../engine/evidence-summary';
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
const y = (vas: number): number => PAD.top + (1 - vas / 10) * (H - PAD.top - PAD.bottom);

/**
 * Pain (VAS 0–10) over time, one line per study that reports a before/after series, drawn as SVG by the app
 * (no charting library, no CDN). Time is on a log axis; follow-ups the policy gives no time for sit in their own
 * column. The evidence table above carries the same numbers as text.
 */
export function painChart(evidence: EvidenceLike[]): HTMLElement {
  const series = evidence.map((e) => ({ e, ...painSeries(e) })).filter((x) => x.points.length >= 2);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', 'data-testid': 'pain-chart', class: 'chart' },
    s('title', { id: 'chart-title' }, 'Pain scores (VAS) before and after sacroplasty, by study'),
    s('desc', { id: 'chart-desc' }, series.map((x) => `${x.e.title ?? ''}: ${x.points.map((p) => p.value).join(', ')}`).join('; ')));
  for (let v = 0; v <= 10; v += 2) {
    svg.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }), s('text', { x: PAD.left - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, v));
  }
  for (const [hours, label] of TICKS) svg.append(s('text', { x: x(hours), y: H - PAD.bottom + 18, 'text-anchor': 'middle', class: 'tick' }, label));
  svg.append(s('text', { x: x(undefined), y: H - PAD.bottom + 18, 'text-anchor': 'middle', class: 'tick' }, 'time n/r'));
  svg.append(s('text', { x: 12, y: PAD.top + (H - PAD.top - PAD.bottom) / 2, transform: `rotate(-90 12 ${PAD.top + (H - PAD.top - PAD.bottom) / 2})`, 'text-anchor': 'middle', class: 'axis' }, 'VAS pain (0–10)'));
  series.forEach((item, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const label = (item.e.title ?? '').split(':')[0] ?? '';
    const g = s('g', { 'data-study': label, class: 'series' });
    g.append(s('polyline', { points: item.points.map((p) => `${x(p.hours).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-dasharray': DASHES[i % DASHES.length] }));
    for (const p of item.points) g.append(s('circle', { cx: x(p.hours).toFixed(1), cy: y(p.value).toFixed(1), r: 4, fill: color }, s('title', {}, `${label}: ${p.label} = ${p.value}`)));
    g.append(s('text', { x: W - PAD.right + 8, y: PAD.top + 14 + i * 18, class: 'legend', fill: color }, `— ${label}`));
    svg.append(g);
  });
  const others = evidence.length - series.length;
  return h('figure', { class: 'chart-figure' }, svg as unknown as HTMLElement,
    h('figcaption', { class: 'muted' }, `Mean VAS pain per study. ${others > 0 ? `${others} studies report only a mean reduction or no pain series; see the table.` : ''}`));
}

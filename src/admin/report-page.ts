import type { ReportData } from '../storage';
import { escapeHtml, page } from '../http/html';

/** The report's data: what the storage layer's reportData returns. */
export type Report = ReportData;

/** A horizontal bar chart as SVG (no script: the page renders the same in a browser, a PDF or a mail client). */
function bars(id: string, title: string, rows: Array<{ label: string; value: number }>): string {
  const max = Math.max(1, ...rows.map((r) => r.value));
  const h = 26;
  const height = Math.max(1, rows.length) * h + 8;
  const body = rows.length === 0
    ? '<text x="0" y="18" class="muted">No data in this period.</text>'
    : rows.map((r, i) => {
      const w = Math.round((r.value / max) * 360);
      // Labels are cut to fit left of the bars; the full text is the group's tooltip.
      const label = r.label.length > 34 ? `${r.label.slice(0, 33)}…` : r.label;
      return `<g><title>${escapeHtml(r.label)}</title><text x="0" y="${i * h + 17}">${escapeHtml(label)}</text>`
        + `<rect x="260" y="${i * h + 4}" width="${w}" height="18" rx="2"></rect>`
        + `<text x="${268 + w}" y="${i * h + 17}">${r.value}</text></g>`;
    }).join('');
  return `<figure data-testid="${id}"><figcaption><h2>${escapeHtml(title)}</h2></figcaption>
<svg role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 700 ${height}" width="700" height="${height}">${body}</svg></figure>`;
}

/** The report's inline style, allowed by its hash in the CSP (app.ts). */
export const REPORT_STYLE = 'svg text{font:13px system-ui,sans-serif;fill:#1b1b1b} svg rect{fill:#0b5cad} figure{margin:1.5rem 0} h2{font-size:1.1rem;margin:0 0 .4rem}';

/** The payer staff report: cards per day, accepted vs overridden, override reasons, alternatives, decisions by code. */
export function reportPage(report: Report, window: { from: string; to: string }): string {
  const style = `<style>${REPORT_STYLE}</style>`;
  const body = `${style}<h1>CDS coverage report</h1><p class="muted">From ${escapeHtml(window.from)} to ${escapeHtml(window.to)} (UTC). The same data as JSON: add <code>?format=json</code>.</p>
${bars('chart-cards-per-day', 'Cards shown per day', report.cardsShownPerDay.map((d) => ({ label: d.day, value: d.cards })))}
${bars('chart-outcomes', 'Accepted vs overridden', [{ label: 'accepted', value: report.feedbackOutcomes.accepted }, { label: 'overridden', value: report.feedbackOutcomes.overridden }])}
${bars('chart-override-reasons', 'Override reasons', report.overrideReasons.map((r) => ({ label: r.display ?? r.code ?? '(no reason given)', value: r.count })))}
${bars('chart-alternatives', 'Alternatives chosen', report.alternativesChosen.map((a) => ({ label: a.suggestion, value: a.count })))}
${bars('chart-decisions', 'Decisions by code', report.decisionsByCode.map((d) => ({ label: `${d.code ?? '(uncoded)'} · ${d.covered}`, value: d.count })))}`;
  return page('CDS coverage report', body);
}

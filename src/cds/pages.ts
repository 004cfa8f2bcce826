import { Router } from 'express';
import type { ActivityDefinition, PlanDefinitionAction } from 'fhir/r4';
import type { Catalog } from '../engine/catalog';
import { evidenceRow, overallCertainty } from '../engine/evidence-summary';
import { displayMonth, inForce } from '../knowledge/policies';
import type { KnowledgeBase } from '../knowledge/knowledge-base';
import { escapeHtml, page } from '../http/html';
import { notFound } from '../http/errors';

function activities(knowledge: KnowledgeBase, actions: PlanDefinitionAction[] | undefined, into: ActivityDefinition[]): void {
  for (const a of actions ?? []) {
    if (a.definitionCanonical) {
      const ad = knowledge.canonicals.resolve<ActivityDefinition>(a.definitionCanonical, 'ActivityDefinition');
      if (ad && !into.includes(ad)) into.push(ad);
    }
    activities(knowledge, a.action, into);
  }
}

const list = (items: string[]): string => (items.length > 0 ? `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>` : '<p class="muted">None listed.</p>');

/**
 * Human-readable pages rendered from the knowledge: `/policies/{PlanDefinition id}` (the target of the policies'
 * External Reference cards): the coverage position, its dates and status, the covered alternatives, the evidence
 * as each Evidence resource states it (its own measures), and the references.
 */
export function pagesRouter(catalog: Catalog, now: () => Date, allowDraft: boolean): Router {
  const router = Router();
  const { knowledge } = catalog;
  router.get('/policies/:id', (req, res) => {
    const compiled = catalog.policy(`PlanDefinition/${req.params['id'] ?? ''}`);
    if (!compiled) throw notFound(`No policy "${String(req.params['id']).slice(0, 64)}".`);
    const { policy } = compiled;
    const p = policy.resource;
    const alts: ActivityDefinition[] = [];
    activities(knowledge, p.action, alts);
    const refs = (p.relatedArtifact ?? []).filter((r) => r.type === 'citation');
    const rows = compiled.evidence.map(evidenceRow);
    const status = inForce(policy, now(), allowDraft) ? 'in force' : `not in force (status ${p.status}${p.effectivePeriod?.start ? `, effective from ${displayMonth(p.effectivePeriod.start) ?? ''}` : ''})`;
    const body = `<h1>${escapeHtml(p.title ?? p.name ?? '')}</h1>
<p class="muted">${escapeHtml(p.publisher ?? '')} · policy ${escapeHtml(p.identifier?.[0]?.value ?? '')} · version ${escapeHtml(p.version ?? '')}
 · last reviewed ${escapeHtml(compiled.lastReviewed ?? '?')} · next review ${escapeHtml(compiled.nextReview ?? '?')} · ${escapeHtml(status)}</p>
<h2>Coverage position</h2><p>${escapeHtml(p.description ?? '')}</p>
<h2>Covered alternatives</h2>${list(alts.map((a) => `<strong>${escapeHtml(a.title ?? '')}</strong>: ${escapeHtml(a.description ?? '')}`))}
<h2>Evidence</h2>${rows.length === 0 ? '<p class="muted">No evidence recorded.</p>' : `<p>Certainty: ${escapeHtml(overallCertainty(compiled.evidence) ?? 'unrated')}.</p>
<table><thead><tr><th>Study</th><th>Design</th><th>Participants</th><th>Outcomes</th><th>Follow-up</th></tr></thead><tbody>${rows.map((r) => `<tr data-study="${escapeHtml(r.study)}"><td>${r.url ? `<a href="${escapeHtml(r.url)}">${escapeHtml(r.study)}</a>` : escapeHtml(r.study)}</td><td>${escapeHtml(r.design)}</td><td>${escapeHtml(r.participants)}</td><td>${escapeHtml(r.outcomes.join('; ') || 'not reported')}</td><td>${escapeHtml(r.followUp)}</td></tr>`).join('')}</tbody></table>`}
<h2>References</h2>${list(refs.map((r) => `${escapeHtml(r.citation ?? r.display ?? r.label ?? '')}${r.url ? ` <a href="${escapeHtml(r.url)}">${escapeHtml(r.url)}</a>` : ''}`))}`;
    res.type('html').send(page(p.title ?? 'Policy', body));
  });
  return router;
}

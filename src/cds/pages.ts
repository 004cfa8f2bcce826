import { Router } from 'express';
import type { ActivityDefinition, PlanDefinitionAction } from 'fhir/r4';
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

/**
 * Human-readable pages rendered from the knowledge: `/policies/{PlanDefinition id}` (the target of the External
 * Reference card).
 */
export function pagesRouter(knowledge: KnowledgeBase): Router {
  const router = Router();
  router.get('/policies/:id', (req, res) => {
    const plan = knowledge.plans.get(`PlanDefinition/${req.params['id'] ?? ''}`);
    if (!plan) throw notFound(`No policy "${String(req.params['id']).slice(0, 64)}".`);
    const p = plan.resource;
    const alts: ActivityDefinition[] = [];
    activities(knowledge, p.action, alts);
    const refs = (p.relatedArtifact ?? []).filter((r) => r.type === 'citation');
    const body = `<h1>${escapeHtml(p.title ?? p.name ?? '')}</h1>
<p class="muted">${escapeHtml(p.publisher ?? '')} · policy ${escapeHtml(p.identifier?.[0]?.value ?? '')} · version ${escapeHtml(p.version ?? '')}
 · last reviewed ${escapeHtml(plan.lastReviewed ?? '?')} · next review ${escapeHtml(plan.nextReview ?? '?')}</p>
<h2>Coverage position</h2><p>${escapeHtml(p.description ?? '')}</p>
<h2>Covered alternatives</h2><ul>${alts.map((a) => `<li><strong>${escapeHtml(a.title ?? '')}</strong>: ${escapeHtml(a.description ?? '')}</li>`).join('')}</ul>
<h2>References</h2><ul>${refs.map((r) => `<li>${escapeHtml(r.citation ?? r.display ?? r.label ?? '')}${r.url ? ` <a href="${escapeHtml(r.url)}">${escapeHtml(r.url)}</a>` : ''}</li>`).join('')}</ul>`;
    res.type('html').send(page(p.title ?? 'Policy', body));
  });
  return router;
}

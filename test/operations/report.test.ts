/**
 * The payer staff report on a running replica, fed by real traffic: hook calls on both services, then feedback as
 * clinicians give it (alternatives accepted by their suggestion uuids, overrides with each of the card's override
 * reasons and one without). The JSON must add up to exactly what was sent, the HTML page must render its five
 * charts in a real browser (screenshot in test-artifacts/admin-report.png), and the report is closed to callers
 * without ADMIN_TOKEN — 401 — and entirely off when ADMIN_TOKEN is unset — 403.
 */
import { randomUUID } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { artifactPath, describeWithBrowser, launchBrowser } from '../browser';
import {
  CPT, SELECT, SIGN, agent, buildOnce, decisionsOf, hookBody, http, physicalTherapyOrder, pollUntil, removeTempDirs, sacroplastyOrder,
  startReplica, stopAllReplicas, storageFor, tempDir,
} from './harness';
import type { Card, HookResponse, Replica } from './harness';

jest.setTimeout(240_000);

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const CHARTS = ['chart-cards-per-day', 'chart-outcomes', 'chart-override-reasons', 'chart-alternatives', 'chart-decisions'];

interface ReportJson {
  from: string;
  to: string;
  cardsShownPerDay: Array<{ day: string; cards: number }>;
  feedbackOutcomes: { accepted: number; overridden: number };
  overrideReasons: Array<{ code: string | null; display: string | null; count: number }>;
  alternativesChosen: Array<{ suggestion: string; count: number }>;
  decisionsByCode: Array<{ system: string | null; code: string | null; covered: string; count: number }>;
}

let replica: Replica;
let dataDir: string;
let storageEnv: Record<string, string>;
let cleanupStorage: () => Promise<void> = () => Promise.resolve();
let browser: Browser | undefined;
const days = new Set<string>();
const expected = {
  cards: 0,
  decisions: new Map<string, number>(),
  accepted: 0,
  overridden: 0,
  reasons: new Map<string | null, { display: string | null; count: number }>(),
  alternatives: new Map<string, number>(),
};
const authorization = { authorization: `Bearer ${ADMIN_TOKEN}` };
const today = (): string => new Date().toISOString().slice(0, 10);

async function hook(path: string, body: Record<string, unknown>): Promise<HookResponse> {
  const res = await http('POST', `${replica.url}${path}`, { body });
  expect(res.status).toBe(200);
  const r = res.json<HookResponse>();
  expected.cards += r.cards.length;
  for (const d of decisionsOf(r)) {
    const key = `${d.code ?? ''}|${d.covered}`;
    expected.decisions.set(key, (expected.decisions.get(key) ?? 0) + 1);
  }
  return r;
}

let clock = 0;
/** Distinct, recent outcome timestamps (the feedback key includes it). */
const stamp = (): string => new Date(Date.now() - 60_000 + clock++ * 10).toISOString();

async function feedback(items: Array<Record<string, unknown>>): Promise<void> {
  const res = await http('POST', `${replica.url}${SIGN}/feedback`, { body: { feedback: items } });
  expect(res.status).toBe(200);
}

function suggestionOf(card: Card, label: RegExp): string {
  const s = card.suggestions?.find((x) => label.test(x.label));
  if (!s) throw new Error(`no suggestion ${label} on card "${card.summary}"`);
  return s.uuid;
}

async function reportJson(): Promise<ReportJson> {
  const res = await http('GET', `${replica.url}/admin/report?format=json`, { headers: authorization });
  expect(res.status).toBe(200);
  return res.json<ReportJson>();
}

beforeAll(async () => {
  await buildOnce();
  const storage = await storageFor('report');
  storageEnv = storage.env;
  cleanupStorage = storage.cleanup;
  dataDir = tempDir('report');
  replica = await startReplica({ name: 'report', dataDir, env: { ...storageEnv, ADMIN_TOKEN } });
  days.add(today());

  // Hook calls: four sacroplasty order-signs, one with nothing to say, two order-selects.
  const signs: HookResponse[] = [];
  for (let i = 0; i < 4; i++) signs.push(await hook(SIGN, hookBody('order-sign', [sacroplastyOrder(`sr-${i}`)])));
  expect((await hook(SIGN, hookBody('order-sign', [physicalTherapyOrder()]))).cards).toEqual([]);
  for (let i = 0; i < 2; i++) await hook(SELECT, hookBody('order-select', [sacroplastyOrder(`sr-sel-${i}`)]));

  // Accepted: physical therapy twice, heat and cold once — by the suggestion uuids the cards carried.
  const alternativesCard = (i: number): Card => {
    const card = signs[i]!.cards.find((c) => c.source.topic?.code === 'therapy-alternatives-req');
    if (!card) throw new Error('no therapy-alternatives-req card');
    return card;
  };
  const accepted: Array<[number, RegExp, string]> = [
    [0, /physical therapy/i, 'replace-with-physical-therapy'],
    [1, /physical therapy/i, 'replace-with-physical-therapy'],
    [2, /heat and cold/i, 'replace-with-home-heat-cold'],
  ];
  await feedback(accepted.map(([i, label]) => ({ card: alternativesCard(i).uuid, outcome: 'accepted', acceptedSuggestions: [{ id: suggestionOf(alternativesCard(i), label) }], outcomeTimestamp: stamp() })));
  for (const [, , name] of accepted) expected.alternatives.set(name, (expected.alternatives.get(name) ?? 0) + 1);
  expected.accepted += accepted.length;

  // Overridden: the k-th override reason the card offers, k + 1 times; and once with no reason.
  const reasons = alternativesCard(0).overrideReasons ?? [];
  expect(reasons.length).toBeGreaterThanOrEqual(4);
  for (const [k, reason] of reasons.entries()) {
    const items = Array.from({ length: k + 1 }, (_, j) => ({ card: alternativesCard(j % 4).uuid, outcome: 'overridden', overrideReason: { reason, userComment: 'operations test' }, outcomeTimestamp: stamp() }));
    // One POST per item for some reasons, one POST for all items for others: both are what EHRs do.
    if (k % 2 === 0) for (const item of items) await feedback([item]);
    else await feedback(items);
    expected.reasons.set(reason.code ?? null, { display: reason.display ?? null, count: k + 1 });
    expected.overridden += k + 1;
  }
  await feedback([{ card: signs[3]!.cards[1]!.uuid, outcome: 'overridden', outcomeTimestamp: stamp() }]);
  expected.reasons.set(null, { display: null, count: 1 });
  expected.overridden += 1;
  days.add(today());
}, 230_000);

afterAll(async () => {
  await browser?.close();
  await stopAllReplicas();
  agent.destroy();
  await cleanupStorage();
  removeTempDirs();
});

describe('the payer staff report (/admin/report) on a running replica', () => {
  it('adds up, as JSON, to exactly the hook calls and feedback sent', async () => {
    expect(expected.cards).toBeGreaterThan(0);
    const totalDecisions = [...expected.decisions.values()].reduce((a, b) => a + b, 0);
    // Audit rows and assertions go through the write queue: wait until they are all in.
    const report = await pollUntil('the report to count every call and decision', async () => {
      const r = await reportJson();
      const cards = r.cardsShownPerDay.reduce((n, d) => n + d.cards, 0);
      const decisions = r.decisionsByCode.reduce((n, d) => n + d.count, 0);
      return cards === expected.cards && decisions === totalDecisions ? r : undefined;
    }, 10_000, 200);

    // Cards per day: the calls were made today (UTC), and only today (or yesterday, had the run crossed midnight).
    for (const d of report.cardsShownPerDay) expect(days).toContain(d.day);
    expect(report.to).toBe(today());
    expect(report.feedbackOutcomes).toEqual({ accepted: expected.accepted, overridden: expected.overridden });
    expect(report.overrideReasons).toHaveLength(expected.reasons.size);
    for (const [code, { display, count }] of expected.reasons) expect(report.overrideReasons).toContainEqual({ code, display, count });
    // Most frequent first; the reasonless overrides last among equals.
    expect(report.overrideReasons.map((r) => r.count)).toEqual([...report.overrideReasons.map((r) => r.count)].sort((x, y) => y - x));
    expect(report.overrideReasons.at(-1)).toEqual({ code: null, display: null, count: 1 });
    expect(report.alternativesChosen).toEqual([
      { suggestion: 'replace-with-physical-therapy', count: 2 },
      { suggestion: 'replace-with-home-heat-cold', count: 1 },
    ]);
    // Decisions with no billing code (the default decision for the physical therapy order) count under no code.
    expect(report.decisionsByCode).toEqual([...expected.decisions].map(([key, count]) => {
      const [code, covered] = key.split('|');
      return code ? { system: CPT, code, covered, count } : { system: null, code: null, covered, count };
    }).sort((x, y) => (x.code === null ? 1 : y.code === null ? -1 : 0)));
    expect(report.decisionsByCode).toContainEqual(expect.objectContaining({ code: '0200T', covered: 'not-covered' }));
  });

  describeWithBrowser('in Chromium', () => {
    it('renders the five charts in Chromium (Authorization sent as a header) and saves a screenshot', async () => {
      browser = await launchBrowser();
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
      const page = await context.newPage();
      const consoleLines: string[] = [];
      page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
      await page.setExtraHTTPHeaders(authorization);
      const response = await page.goto(`${replica.url}/admin/report`);
      try {
        expect(response?.status()).toBe(200);
        expect(response?.headers()['content-type']).toMatch(/^text\/html/);
        await page.locator('h1').waitFor({ state: 'visible', timeout: 10_000 });
        for (const id of CHARTS) {
          const chart = page.locator(`[data-testid=${id}]`);
          expect({ id, charts: await chart.count() }).toEqual({ id, charts: 1 });
          expect({ id, svgs: await chart.locator('svg').count() }).toEqual({ id, svgs: 1 });
          // Every chart has data here, so every one draws bars.
          expect({ id, hasBars: (await chart.locator('svg rect').count()) > 0 }).toEqual({ id, hasBars: true });
          expect(await chart.locator('svg').isVisible()).toBe(true);
        }
        expect(await page.locator('[data-testid=chart-alternatives] svg').textContent()).toContain('replace-with-physical-therapy');
        expect(await page.locator('[data-testid=chart-decisions] svg').textContent()).toContain('0200T');
        expect(await page.locator('[data-testid=chart-override-reasons] svg').textContent()).toContain('(no reason given)');
        expect(await page.locator('[data-testid=chart-outcomes] svg rect').count()).toBe(2);
        // The page's own styles apply (the service's CSP must not block them): bars in the report's blue.
        expect(await page.locator('[data-testid=chart-decisions] svg rect').first().evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { fill: string } }).getComputedStyle(el).fill)).toBe('rgb(11, 92, 173)');
        expect(consoleLines.filter((l) => /Content Security Policy/i.test(l))).toEqual([]);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- console ---\n${consoleLines.join('\n')}`);
      } finally {
        await page.screenshot({ path: artifactPath('admin-report.png'), fullPage: true });
        await context.close();
      }
    });
  });

  it('answers 401 without the admin token', async () => {
    const res = await http('GET', `${replica.url}/admin/report`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect((await http('GET', `${replica.url}/admin/report?format=json`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('answers 403 when ADMIN_TOKEN is unset (the admin API is off)', async () => {
    const stopped = await replica.stop();
    expect(stopped).toMatchObject({ killed: false, code: 0 });
    replica = await startReplica({ name: 'report-no-admin', dataDir, env: storageEnv });
    expect((await http('GET', `${replica.url}/admin/report`)).status).toBe(403);
    expect((await http('GET', `${replica.url}/admin/report?format=json`, { headers: authorization })).status).toBe(403);
  });
});

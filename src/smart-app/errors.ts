import { h, mount } from './dom';

/** A failure put in words a clinician can act on. */
export interface Problem {
  title: string;
  message: string;
}

/** The HTTP status an error from fhirclient, fetch or the service carries, if any. */
export const httpStatus = (err: unknown): number | undefined => {
  const e = err as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  const v = e.status ?? e.statusCode ?? e.response?.status;
  return typeof v === 'number' ? v : undefined;
};

/** Turns an error from fhirclient, fetch or the service into one of the messages the app knows. */
export function classify(err: unknown, where: 'launch' | 'app' | 'order'): Problem {
  const text = err instanceof Error ? err.message : String(err);
  const code = httpStatus(err) ?? (/\b(401)\b/.test(text) ? 401 : /\b(403)\b/.test(text) ? 403 : undefined);
  // A whole word: fhirclient's "Failed to fetch the conformance statement" is a network failure, not a state one.
  if (/\bstate\b/i.test(text) && where !== 'order') {
    return { title: 'Sign-in could not be verified', message: 'The sign-in response did not match a launch started in this window (unknown or mismatched state). For your safety the app stopped. Open it again from the card in your EHR.' };
  }
  if (code === 401) {
    return { title: 'Your EHR session has expired', message: 'The EHR no longer accepts this app\'s access (expired or revoked token). Open the app again from the card in your EHR.' };
  }
  if (code === 403) {
    return { title: 'Not permitted', message: 'The EHR did not grant this app permission for that action. Your EHR administrator can grant it, or place the order in the EHR directly.' };
  }
  if (err instanceof TypeError || /fetch|network|ECONNREFUSED|Failed to load|unreachable/i.test(text)) {
    return { title: 'Could not reach the EHR', message: 'The app could not reach the EHR\'s FHIR server. Check your connection, or open the app again from the card; if it keeps happening, tell your EHR support team.' };
  }
  if (code === 404 || code === 410) {
    return { title: 'Not found in the EHR', message: 'The EHR has no record of something the app needed (it may not be saved yet, or it was removed). Open the app again from the card; if it keeps happening, tell your EHR support team.' };
  }
  // Anything else: plain words for the clinician; the technical detail goes to the browser console, not the page.
  console.error(err);
  return {
    title: where === 'launch' ? 'The app could not start' : 'Something went wrong',
    message: `The app could not finish${code ? ` (the server answered with error ${code})` : ''}. Open it again from the card in your EHR; if it keeps happening, tell your EHR support team.`,
  };
}

/** Shows a problem instead of the app: never a blank page. */
export function showProblem(root: HTMLElement, problem: Problem): void {
  mount(root, h('section', { class: 'panel error', 'data-testid': 'error', role: 'alert' },
    h('h1', {}, problem.title),
    h('p', {}, problem.message),
    h('p', { class: 'muted' }, 'The plan\'s policies stay available: ', h('a', { href: '/smart/app' }, 'about this app and the plan\'s policies'), '.')));
}

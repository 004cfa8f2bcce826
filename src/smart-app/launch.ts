import FHIR from 'fhirclient';
import { appRoot, readConfig } from './config';
import { classify, showProblem } from './errors';

/** ≥ 122 bits of state entropy (smart.md); fhirclient's default is ~95. 32 random bytes as hex. */
function randomState(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * SMART App Launch 2.x: the EHR opens /smart/launch?iss=…&launch=… (EHR launch) or a user opens it with only iss
 * (standalone launch). Either way: discovery, then authorize with PKCE S256 (required) and a strong state.
 * Without iss there is nothing to launch against: show the "about" view.
 */
async function main(): Promise<void> {
  const root = appRoot();
  const params = new URLSearchParams(location.search);
  if (!params.get('iss')) {
    location.replace('/smart/app');
    return;
  }
  const config = readConfig(root);
  const standalone = !params.get('launch');
  try {
    await FHIR.oauth2.authorize({
      clientId: config.clientId,
      scope: `${standalone ? 'launch/patient' : 'launch'} ${config.scope}`,
      redirectUri: new URL('/smart/app', location.href).href,
      pkceMode: 'required',
      stateKey: randomState(),
    });
  } catch (err) {
    showProblem(root, classify(err, 'launch'));
  }
}

void main();

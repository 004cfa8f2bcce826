/** What the server put in the page (client id and scopes), read from #app's data-config. */
export interface AppConfig {
  clientId: string;
  scope: string;
}

export function appRoot(): HTMLElement {
  const root = document.getElementById('app');
  if (!root) throw new Error('The page has no #app element');
  return root;
}

export function readConfig(root: HTMLElement): AppConfig {
  return JSON.parse(root.dataset['config'] ?? '{}') as AppConfig;
}

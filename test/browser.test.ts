/** Which browser the end-to-end tests drive (test/browser.ts), and when a missing one is a skip or a failure. */
import { browserRequired, findBrowser } from './browser';

const only = (...paths: string[]) => (p: string): boolean => paths.includes(p);

describe('findBrowser', () => {
  it('CHROME_PATH wins when it exists', () => {
    expect(findBrowser({ CHROME_PATH: '/opt/chrome/chrome' }, 'linux', only('/opt/chrome/chrome', '/usr/bin/chromium'))).toBe('/opt/chrome/chrome');
  });

  it('a CHROME_PATH that does not exist finds nothing (no silent fallback to another browser)', () => {
    expect(findBrowser({ CHROME_PATH: '/nope' }, 'linux', only('/usr/bin/chromium'))).toBeUndefined();
  });

  it.each([
    ['linux', '/usr/bin/chromium'],
    ['linux', '/usr/bin/google-chrome-stable'],
    ['darwin', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'],
    ['win32', 'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe'],
  ])('on %s, the usual location %s', (platform, path) => {
    expect(findBrowser({}, platform, only(path))).toBe(path);
  });

  it('none found → undefined', () => {
    expect(findBrowser({}, 'darwin', () => false)).toBeUndefined();
  });
});

describe('browserRequired', () => {
  it.each([[{ CI: 'true' }, true], [{ CI: '1' }, true], [{}, false], [{ CI: 'false' }, false]])('%j → %s', (env, required) => {
    expect(browserRequired(env)).toBe(required);
  });
});

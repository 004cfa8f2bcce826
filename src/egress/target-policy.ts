import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * Where the service may send a request carrying an EHR's access token (issue 13, items 8–9): only at or below a
 * registered FHIR base URL. A rule is one registered base, `scheme://host[:port][/path]`; allow-list entries
 * (FHIR_SERVER_ALLOWLIST, never a client registration) may also use `:*` for any port and `*.` for any subdomain.
 *
 * This module decides from the URL alone (static); the guarded GET (guarded-get.ts) also checks every address a
 * name resolves to, inside the connection's own DNS lookup, so a name cannot be re-pointed between check and use.
 */
export interface TargetRule {
  protocol: 'http:' | 'https:';
  /** Lower-case host as the WHATWG URL parser writes it (IPv6 in brackets); for a wildcard, the suffix after `*.`. */
  host: string;
  wildcardHost: boolean;
  /** The port as a string ('' = the scheme's default), or '*' for any port. */
  port: string;
  /** The path prefix, without a trailing slash ('' = the whole origin). */
  path: string;
  /**
   * The rule may reach loopback, private and link-local addresses: its host is itself such an address or
   * `localhost`, or its registration says `"privateNetwork": true`. Other rules never reach them.
   */
  privateNetwork: boolean;
  /** The entry as written (for messages and logs). */
  source: string;
}

/** Why a target was refused (logs and metrics only: the caller is told only that it is not registered). */
export type Refusal = 'malformed' | 'scheme' | 'not-https' | 'userinfo' | 'ip-spelling' | 'encoded-path' | 'not-registered' | 'special-address';

export type TargetDecision =
  | { allowed: true; url: URL; rule: TargetRule }
  | { allowed: false; refusal: Refusal };

/** What a caller is told when its fhirServer (or a launch's iss) is refused, whatever the cause. */
export const NOT_REGISTERED = 'the request\'s fhirServer is not registered for this client';

const special = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) special.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64]] as const) {
  special.addSubnet(net, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (no zone), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const parts = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${(((parts[0] ?? 0) << 8) | (parts[1] ?? 0)).toString(16)}:${(((parts[2] ?? 0) << 8) | (parts[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

/**
 * Whether an IP address is loopback, private, link-local, unspecified, multicast or otherwise not a public unicast
 * address; an IPv4 address embedded in IPv6 (`::ffff:127.0.0.1`, NAT64 `64:ff9b::/96`, `::127.0.0.1`) counts as
 * the IPv4 address. Anything that is not an IP address counts as special (fail closed).
 */
export function isSpecialAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare.replace(/%.*$/, ''));
  if (family === 4) return special.check(bare, 'ipv4');
  if (family !== 6) return true;
  const g = ipv6Groups(bare);
  if (!g) return true;
  const embedded = (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && (g[5] === 0xffff || g[5] === 0))
    || (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0);
  if (embedded && !(g[5] === 0 && g[6] === 0 && (g[7] === 0 || g[7] === 1))) {
    const v4 = [(g[6] ?? 0) >> 8, (g[6] ?? 0) & 255, (g[7] ?? 0) >> 8, (g[7] ?? 0) & 255].join('.');
    return special.check(v4, 'ipv4');
  }
  return special.check(bare.replace(/%.*$/, ''), 'ipv6');
}

/** The host exactly as written in an absolute URL's authority (lower-cased), without userinfo and port. */
function rawHost(text: string): string | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:[/\\]{2}([^/?#\\]*)/i.exec(text)?.[1];
  if (authority === undefined) return undefined;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostPort.startsWith('[')) return hostPort.slice(0, hostPort.indexOf(']') + 1).toLowerCase();
  const colon = hostPort.lastIndexOf(':');
  return (colon === -1 ? hostPort : hostPort.slice(0, colon)).toLowerCase();
}

/** The URL, or the refusal: not http(s), userinfo, an IPv4 address spelled other than dotted-decimal. */
function parseTarget(text: string): { url: URL } | { refusal: Refusal } {
  if (typeof text !== 'string' || text.length > 2048 || /[\s\\]/.test(text)) return { refusal: 'malformed' };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { refusal: 'malformed' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { refusal: 'scheme' };
  if (url.username || url.password || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(text)) return { refusal: 'userinfo' };
  // `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `127.0.0.1.`: the parser makes them 127.0.0.1; never accepted.
  if (isIPv4(url.hostname) && rawHost(text) !== url.hostname) return { refusal: 'ip-spelling' };
  return { url };
}

/**
 * Parses one registered base URL or allow-list entry; throws a message naming `what` when it is unusable.
 * `wildcards` allows `:*` and `*.`; `production` refuses anything but https.
 */
export function parseRule(entry: string, options: { what: string; production: boolean; wildcards: boolean; privateNetwork?: boolean }): TargetRule {
  const fail = (why: string): never => {
    throw new Error(`${options.what}: "${entry}" ${why}`);
  };
  const m = /^(https?):\/\/(\*\.)?([^/:?#]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}|\*))?(\/[^?#]*)?$/.exec(entry.trim());
  if (!m) return fail('is not a base URL (scheme://host[:port][/path], no query, no userinfo)');
  const [, scheme = '', star, host = '', port, path = ''] = m;
  if ((star || port === '*') && !options.wildcards) fail('may not use wildcards (* in the host or port): register exact base URLs');
  if (options.production && scheme !== 'https') fail('is not https (required with NODE_ENV=production)');
  const parsed = parseTarget(`${scheme}://${host}${port && port !== '*' ? `:${port}` : ''}${path}`);
  if ('refusal' in parsed) return fail(`is not usable (${parsed.refusal})`);
  const { url } = parsed;
  if (/%2e|%2f|%5c/i.test(url.pathname) || url.pathname !== (path || '/')) fail('has an encoded or dot segment in its path');
  const hostName = url.hostname;
  const literalSpecial = hostName === 'localhost' || (isIP(hostName.replace(/^\[|\]$/g, '')) !== 0 && isSpecialAddress(hostName));
  return {
    protocol: url.protocol as TargetRule['protocol'],
    host: hostName,
    wildcardHost: !!star,
    port: port === '*' ? '*' : url.port,
    path: url.pathname.replace(/\/+$/, ''),
    privateNetwork: (literalSpecial && !star) || options.privateNetwork === true,
    source: entry.trim(),
  };
}

function matches(rule: TargetRule, url: URL): boolean {
  if (rule.protocol !== url.protocol) return false;
  if (rule.wildcardHost ? !url.hostname.endsWith(`.${rule.host}`) : rule.host !== url.hostname) return false;
  if (rule.port !== '*' && rule.port !== url.port) return false;
  return rule.path === '' || url.pathname === rule.path || url.pathname.startsWith(`${rule.path}/`);
}

/**
 * Decides whether `target` (a fhirServer, a launch's iss) may be contacted under `rules`, from the URL alone:
 * http(s) only (https only in production), no userinfo, no re-spelled IP address, no encoded dot or slash in the
 * path, at or below a rule's base (the same origin, path-prefix on the normalized path, so `..` cannot escape),
 * and an IP-literal host in a loopback/private/link-local range only under a rule that names such addresses.
 */
export function checkTarget(target: string, rules: readonly TargetRule[], options: { production: boolean }): TargetDecision {
  const parsed = parseTarget(target);
  if ('refusal' in parsed) return { allowed: false, refusal: parsed.refusal };
  const { url } = parsed;
  if (options.production && url.protocol !== 'https:') return { allowed: false, refusal: 'not-https' };
  if (/%2e|%2f|%5c/i.test(url.pathname)) return { allowed: false, refusal: 'encoded-path' };
  const rule = rules.find((r) => matches(r, url));
  if (!rule) return { allowed: false, refusal: 'not-registered' };
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) !== 0 && isSpecialAddress(literal) && !rule.privateNetwork) return { allowed: false, refusal: 'special-address' };
  return { allowed: true, url, rule };
}

/** Whether `full` (base + relative, as fetched) is still at or below `base`: same origin, path prefix. */
export function isBelow(full: URL, base: URL): boolean {
  if (full.origin !== base.origin || full.username || full.password) return false;
  const prefix = base.pathname.replace(/\/+$/, '');
  return prefix === '' || full.pathname === prefix || full.pathname.startsWith(`${prefix}/`);
}

/** The default FHIR_SERVER_ALLOWLIST: the public sandbox's FHIR servers, and loopback test EHRs outside production. */
export function defaultAllowlist(production: boolean): string[] {
  const sandbox = ['https://launch.smarthealthit.org', 'https://r4.smarthealthit.org', 'https://*.smarthealthit.org'];
  if (production) return sandbox;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].flatMap((h) => [`http://${h}:*`, `https://${h}:*`]);
  return [...sandbox, ...loopback];
}

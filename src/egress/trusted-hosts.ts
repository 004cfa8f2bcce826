/** A Host header value: a name or IPv4 address, or a bracketed IPv6 address, and an optional port. */
export const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]{0,252}))(?::\d{1,5})?$/i;

/** CDS_TRUSTED_HOSTS' default, besides HOST when it names one address: this machine under its usual names. */
export const DEFAULT_TRUSTED_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

function split(hostPort: string): { host: string; port?: string } {
  const close = hostPort.startsWith('[') ? hostPort.indexOf(']') + 1 : 0;
  const colon = hostPort.indexOf(':', close);
  return colon === -1 ? { host: hostPort } : { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

/**
 * The host[:port] links may be built on for a request carrying `header` as its Host: the header itself when it is
 * trusted (an entry `host` trusts every port, `host:port` that port only), else the first trusted entry — on the
 * port the request came in on when that entry names none. Never the header of an untrusted Host.
 */
export function trustedHostOf(header: string | undefined, trusted: readonly string[], localPort: number | undefined): string {
  const wanted = header?.trim().toLowerCase() ?? '';
  if (wanted && HOST_HEADER.test(wanted)) {
    const { host, port } = split(wanted);
    const ok = trusted.some((entry) => {
      const e = split(entry);
      return e.host === host && (e.port === undefined || e.port === port);
    });
    if (ok) return wanted;
  }
  const first = trusted[0] ?? 'localhost';
  return split(first).port !== undefined || !localPort ? first : `${first}:${localPort}`;
}

/**
 * Where webhook and Alertmanager receivers may send: the `checkUrl` hook of the alert
 * dispatcher's HTTP client (src/alerts/http-client.ts), built from `security.outbound_allowlist`.
 *
 * Without an allowlist (the default) a receiver may call any public address and nothing
 * internal: IP literals in loopback, private (RFC 1918, CGNAT, IPv6 ULA), link-local (where cloud
 * metadata services answer: 169.254.169.254, fd00:ec2::254), unspecified, multicast, reserved,
 * documentation and NAT64/IPv4-mapped ranges are refused, and so are the names `localhost`,
 * `*.localhost`, `*.local`, `*.internal` (metadata.google.internal), `metadata` and
 * `instance-data`. Host names are resolved when the policy starts and every 5 minutes after; a
 * name that resolves to an internal address is refused too. (A name whose DNS answer changes
 * between that check and the connection, DNS rebinding, is not caught: list the receivers in an
 * allowlist where that matters.)
 *
 * With an allowlist, a receiver may call only the listed destinations: host names (exact),
 * `*.domain` (any subdomain), IP addresses and CIDR ranges (matched against IP-literal URLs),
 * each optionally with `:port`. Listed internal addresses are allowed (that is how a webhook on
 * 127.0.0.1 or 10.x is enabled).
 *
 * A refused URL fails the delivery attempt permanently (`rejectedUrl`): it is dead-lettered in
 * the delivery log with the reason, never retried, never silently dropped.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, isIPv4 } from 'node:net';
import type { UrlCheck } from '../../alerts/index.js';

type Family = 'ipv4' | 'ipv6';

/** Longest wait for one host name's DNS answer, ms. */
const LOOKUP_TIMEOUT_MS = 3000;

const INTERNAL_RANGES: readonly { what: string; family: Family; net: string; prefix: number }[] = [
  { what: 'loopback', family: 'ipv4', net: '127.0.0.0', prefix: 8 },
  { what: 'loopback', family: 'ipv6', net: '::1', prefix: 128 },
  { what: 'unspecified', family: 'ipv4', net: '0.0.0.0', prefix: 8 },
  { what: 'unspecified', family: 'ipv6', net: '::', prefix: 128 },
  { what: 'link-local (cloud metadata)', family: 'ipv4', net: '169.254.0.0', prefix: 16 },
  { what: 'link-local', family: 'ipv6', net: 'fe80::', prefix: 10 },
  { what: 'private', family: 'ipv4', net: '10.0.0.0', prefix: 8 },
  { what: 'private', family: 'ipv4', net: '172.16.0.0', prefix: 12 },
  { what: 'private', family: 'ipv4', net: '192.168.0.0', prefix: 16 },
  { what: 'shared (CGNAT)', family: 'ipv4', net: '100.64.0.0', prefix: 10 },
  { what: 'private (unique local, incl. fd00:ec2::254 metadata)', family: 'ipv6', net: 'fc00::', prefix: 7 },
  { what: 'IETF protocol assignments', family: 'ipv4', net: '192.0.0.0', prefix: 24 },
  { what: 'documentation', family: 'ipv4', net: '192.0.2.0', prefix: 24 },
  { what: 'documentation', family: 'ipv4', net: '198.51.100.0', prefix: 24 },
  { what: 'documentation', family: 'ipv4', net: '203.0.113.0', prefix: 24 },
  { what: 'documentation', family: 'ipv6', net: '2001:db8::', prefix: 32 },
  { what: 'benchmarking', family: 'ipv4', net: '198.18.0.0', prefix: 15 },
  { what: 'multicast', family: 'ipv4', net: '224.0.0.0', prefix: 4 },
  { what: 'multicast', family: 'ipv6', net: 'ff00::', prefix: 8 },
  { what: 'reserved', family: 'ipv4', net: '240.0.0.0', prefix: 4 },
  { what: 'IPv4-mapped', family: 'ipv6', net: '::ffff:0:0', prefix: 96 },
  { what: 'NAT64', family: 'ipv6', net: '64:ff9b::', prefix: 96 },
  { what: 'discard-only', family: 'ipv6', net: '100::', prefix: 64 },
];

const RANGE_LISTS = INTERNAL_RANGES.map((r) => {
  const b = new BlockList();
  b.addSubnet(r.net, r.prefix, r.family);
  return { what: r.what, family: r.family, list: b };
});

/** What kind of internal address `ip` is, or undefined for a public one. */
export function internalRange(ip: string): string | undefined {
  const family: Family = isIPv4(ip) ? 'ipv4' : 'ipv6';
  // BlockList treats an IPv4 address as IPv4-mapped when checked against IPv6 rules, so IPv4
  // addresses are checked against IPv4 rules only; IPv6 ones against both (a mapped IPv6
  // address then reports the IPv4 range it points into).
  for (const r of RANGE_LISTS)
    if ((family === 'ipv6' || r.family === 'ipv4') && r.list.check(ip, family)) return r.what;
  return undefined;
}

const INTERNAL_NAMES = new Set(['localhost', 'metadata', 'instance-data']);
const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal'];

function internalName(host: string): boolean {
  return INTERNAL_NAMES.has(host) || INTERNAL_SUFFIXES.some((s) => host.endsWith(s));
}

type Entry =
  | {
      readonly kind: 'ip';
      readonly list: BlockList;
      readonly port: number | undefined;
      readonly text: string;
    }
  | { readonly kind: 'host'; readonly host: string; readonly port: number | undefined }
  | { readonly kind: 'suffix'; readonly suffix: string; readonly port: number | undefined };

/** Parses one allowlist entry; a string is the problem. */
export function parseAllowEntry(text: string): Entry | string {
  let rest = text.trim().toLowerCase();
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?(\/\d+)?$/.exec(rest);
  if (bracket) {
    rest = `${bracket[1] as string}${bracket[3] ?? ''}`;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else {
    const m = /^([^:/]+(?:\/\d+)?):(\d+)$/.exec(rest);
    if (m) {
      rest = m[1] as string;
      port = Number(m[2]);
    }
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    return `"${text}": port must be 1-65535`;
  const slash = rest.indexOf('/');
  const addr = slash < 0 ? rest : rest.slice(0, slash);
  if (isIP(addr)) {
    const family: Family = isIPv4(addr) ? 'ipv4' : 'ipv6';
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = slash < 0 ? max : Number(rest.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max)
      return `"${text}": prefix length must be 0-${max}`;
    const list = new BlockList();
    list.addSubnet(addr, prefix, family);
    return { kind: 'ip', list, port, text };
  }
  if (slash >= 0) return `"${text}": a CIDR range needs an IP address before the "/"`;
  if (rest.startsWith('*.')) {
    const suffix = rest.slice(1);
    if (!/^(\.[a-z0-9-]+)+$/.test(suffix)) return `"${text}" is not a valid wildcard domain (*.example.com)`;
    return { kind: 'suffix', suffix, port };
  }
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/.test(rest))
    return `"${text}" is not a host name, IP address or CIDR range`;
  return { kind: 'host', host: rest.replace(/\.$/, ''), port };
}

/** For config checks: the problem with an entry, or undefined. */
export function allowEntryProblem(text: string): string | undefined {
  const e = parseAllowEntry(text);
  return typeof e === 'string' ? e : undefined;
}

export interface OutboundPolicy {
  /** The dispatcher's hook: a reason to refuse, or undefined to allow. */
  readonly checkUrl: UrlCheck;
  /** Resolves the host names of these URLs now (and every 5 minutes after). */
  prime(urls: readonly string[]): Promise<void>;
  close(): void;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/**
 * Builds the policy. `resolve` is the DNS lookup (all addresses of a name); tests may pass
 * their own.
 */
export function createOutboundPolicy(
  allowlist: readonly string[],
  resolve: (host: string) => Promise<readonly string[]> = async (host) =>
    (await lookup(host, { all: true, verbatim: true })).map((a) => a.address),
): OutboundPolicy {
  const entries: Entry[] = [];
  for (const text of allowlist) {
    const e = parseAllowEntry(text);
    if (typeof e === 'string') throw new Error(`security.outbound_allowlist: ${e}`);
    entries.push(e);
  }
  /** name → the first internal address it resolved to ('' = only public ones). */
  const resolved = new Map<string, string>();
  const names = new Set<string>();
  let timer: NodeJS.Timeout | undefined;

  async function resolveAll(): Promise<void> {
    await Promise.all(
      [...names].map(async (name) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          // Bounded: a slow resolver must not hold up startup.
          const addrs = await Promise.race([
            resolve(name),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`lookup of ${name} timed out`)), LOOKUP_TIMEOUT_MS);
            }),
          ]);
          resolved.set(name, addrs.find((a) => internalRange(a) !== undefined) ?? '');
        } catch {
          // Unresolvable now: the delivery attempt will fail on its own (retryable, network);
          // the name is checked again at the next refresh.
          resolved.delete(name);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  const checkUrl: UrlCheck = (url) => {
    const host = hostOf(url);
    const port = portOf(url);
    if (entries.length > 0) {
      const ip = isIP(host) !== 0;
      for (const e of entries) {
        if (e.port !== undefined && e.port !== port) continue;
        if (e.kind === 'ip' && ip && e.list.check(host, isIPv4(host) ? 'ipv4' : 'ipv6')) return undefined;
        if (e.kind === 'host' && !ip && e.host === host) return undefined;
        if (e.kind === 'suffix' && !ip && host.endsWith(e.suffix)) return undefined;
      }
      return `${host}:${port} is not in security.outbound_allowlist`;
    }
    if (isIP(host) !== 0) {
      const what = internalRange(host);
      return what ? `${host} is a ${what} address (allow it in security.outbound_allowlist)` : undefined;
    }
    if (internalName(host)) return `${host} is an internal name (allow it in security.outbound_allowlist)`;
    const internal = resolved.get(host);
    if (internal)
      return `${host} resolves to ${internal}, a ${internalRange(internal) ?? 'internal'} address (allow it in security.outbound_allowlist)`;
    return undefined;
  };

  return {
    checkUrl,
    async prime(urls) {
      if (entries.length > 0) return; // an allowlist is checked by name only
      for (const u of urls) {
        try {
          const host = hostOf(new URL(u));
          if (isIP(host) === 0 && !internalName(host)) names.add(host);
        } catch {
          // Not a URL: the dispatcher refuses it as a config error when it is used.
        }
      }
      await resolveAll();
      if (!timer && names.size > 0) {
        timer = setInterval(() => void resolveAll(), 5 * 60_000);
        timer.unref();
      }
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };
}

/** The URLs of every webhook and Alertmanager receiver in an `alerting` section. */
export function receiverUrls(alerting: {
  readonly receivers?: readonly {
    readonly webhook_configs?: readonly { readonly url: string }[];
    readonly alertmanager_configs?: readonly { readonly urls: readonly string[] }[];
  }[];
}): string[] {
  const out: string[] = [];
  for (const r of alerting.receivers ?? []) {
    for (const w of r.webhook_configs ?? []) out.push(w.url);
    for (const a of r.alertmanager_configs ?? []) out.push(...a.urls);
  }
  return out;
}

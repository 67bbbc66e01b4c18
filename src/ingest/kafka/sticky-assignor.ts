/**
 * A sticky, co-partitioning assignment of partition numbers to group members (what Kafka's
 * StickyAssignor does, for one "task" per partition number as Kafka Streams co-partitions its
 * input topics): every member keeps the partitions it owned as long as that keeps the group
 * balanced, and only the surplus moves. kafkajs rebalances eagerly and has no revoke callback, so
 * stickiness is what keeps a partition's state in place through an unrelated member's join or
 * leave.
 *
 * Balance: with n members and P partitions each member gets ⌊P/n⌋ or ⌈P/n⌉ partitions. The result
 * depends only on the members' ids and claims (deterministic), so any member computing it as the
 * group leader gives the same answer.
 */

/** What one member reports in its join metadata: the partitions it owns now. */
export interface MemberClaim {
  readonly memberId: string;
  readonly owned: readonly number[];
}

/**
 * Assigns partitions `0..partitions-1` to `members`.
 * @returns memberId → sorted partition numbers (every member present, possibly with none)
 */
export function assignSticky(members: readonly MemberClaim[], partitions: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const sorted = [...members].sort((a, b) =>
    a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
  );
  for (const m of sorted) out.set(m.memberId, []);
  const n = sorted.length;
  if (n === 0 || partitions <= 0) return out;
  const base = Math.floor(partitions / n);
  let extra = partitions % n; // members that may hold base + 1
  const taken = new Set<number>();
  // Valid, unique claims per member (first claimant in id order wins a contested partition).
  const claims = new Map<string, number[]>();
  for (const m of sorted) {
    const mine: number[] = [];
    for (const p of [...new Set(m.owned)].sort((a, b) => a - b)) {
      if (!Number.isInteger(p) || p < 0 || p >= partitions || taken.has(p)) continue;
      taken.add(p);
      mine.push(p);
    }
    claims.set(m.memberId, mine);
  }
  taken.clear();
  // 1. Everyone keeps up to `base` of its claims.
  for (const m of sorted) {
    const keep = (claims.get(m.memberId) ?? []).slice(0, base);
    for (const p of keep) taken.add(p);
    out.set(m.memberId, keep);
  }
  // 2. Members with more claims keep one more while ⌈P/n⌉ slots remain.
  const full = new Set<string>();
  for (const m of sorted) {
    if (extra === 0) break;
    const c = claims.get(m.memberId) ?? [];
    const p = c[base];
    if (p !== undefined && !taken.has(p)) {
      out.get(m.memberId)?.push(p);
      taken.add(p);
      full.add(m.memberId);
      extra--;
    }
  }
  // 3. The rest go to members below base, then one each to members not yet at base + 1.
  const free: number[] = [];
  for (let p = 0; p < partitions; p++) if (!taken.has(p)) free.push(p);
  for (const m of sorted) {
    const mine = out.get(m.memberId) as number[];
    while (mine.length < base && free.length > 0) mine.push(free.shift() as number);
  }
  for (const m of sorted) {
    if (free.length === 0) break;
    if (full.has(m.memberId) || extra === 0) continue;
    (out.get(m.memberId) as number[]).push(free.shift() as number);
    extra--;
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}

/** The userData a member sends with its join (JSON, versioned). */
export function encodeClaim(owned: readonly number[]): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, owned: [...owned].sort((a, b) => a - b) }));
}

/** Reads a member's userData; anything unreadable (another Vigil version, no data) claims nothing. */
export function decodeClaim(userData: Uint8Array | null | undefined): number[] {
  if (!userData || userData.length === 0) return [];
  try {
    const parsed = JSON.parse(Buffer.from(userData).toString('utf8')) as { v?: unknown; owned?: unknown };
    if (parsed.v !== 1 || !Array.isArray(parsed.owned)) return [];
    return parsed.owned.filter((p): p is number => typeof p === 'number' && Number.isInteger(p));
  } catch {
    // A claim we cannot read is treated as no claim: the member simply gets fresh partitions.
    return [];
  }
}

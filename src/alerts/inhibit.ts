/**
 * Inhibition (pure, in memory), after Alertmanager's inhibit/inhibit.go: a target alert is muted
 * while some *firing* source alert matches a rule's `source_matchers`, the target matches its
 * `target_matchers`, and both have equal values for every `equal` label (missing = empty). An
 * alert that matches both sides is only inhibited by sources that do not also match the target
 * side, so it never inhibits itself.
 *
 * Sources are indexed per rule by their `equal` values, so a lookup is O(matching sources).
 */
import type { InhibitRuleConfig } from './config.js';
import { compileMatchers, matchesAll, type Matcher } from './matchers.js';

export interface InhibitRule {
  readonly name: string;
  readonly source: readonly Matcher[];
  readonly target: readonly Matcher[];
  readonly equal: readonly string[];
}

/** Compiles validated rules (throws MatcherError on a bad matcher; check.ts reports those first). */
export function compileInhibitRules(rules: readonly InhibitRuleConfig[]): InhibitRule[] {
  return rules.map((r, i) => ({
    name: r.name ?? `inhibit_rules[${i}]`,
    source: compileMatchers(r.source_matchers ?? []),
    target: compileMatchers(r.target_matchers ?? []),
    equal: [...new Set(r.equal ?? [])],
  }));
}

type Labels = Readonly<Record<string, string>>;

const equalKey = (equal: readonly string[], labels: Labels): string =>
  equal.map((n) => labels[n] ?? '').join('\xff');

/** Tracks firing source alerts and answers "is this alert inhibited, and by what?". */
export class Inhibitor {
  /** Per rule: equal-values key → fingerprint → labels of firing sources. */
  private readonly index: Map<string, Map<string, Labels>>[];
  /** fingerprint → rules (by index) whose source side it is registered on, with its key. */
  private readonly registered = new Map<string, { rule: number; key: string }[]>();

  constructor(readonly rules: readonly InhibitRule[]) {
    this.index = rules.map(() => new Map<string, Map<string, Labels>>());
  }

  /** Registers `fp` as firing with `labels` (or unregisters it when not firing). */
  update(fp: string, labels: Labels, firing: boolean): void {
    this.remove(fp);
    if (!firing) return;
    const regs: { rule: number; key: string }[] = [];
    this.rules.forEach((r, i) => {
      if (!matchesAll(r.source, labels)) return;
      const key = equalKey(r.equal, labels);
      const byKey = this.index[i] as Map<string, Map<string, Labels>>;
      let set = byKey.get(key);
      if (!set) byKey.set(key, (set = new Map<string, Labels>()));
      set.set(fp, labels);
      regs.push({ rule: i, key });
    });
    if (regs.length > 0) this.registered.set(fp, regs);
  }

  remove(fp: string): void {
    const regs = this.registered.get(fp);
    if (!regs) return;
    for (const { rule, key } of regs) {
      const byKey = this.index[rule] as Map<string, Map<string, Labels>>;
      const set = byKey.get(key);
      set?.delete(fp);
      if (set?.size === 0) byKey.delete(key);
    }
    this.registered.delete(fp);
  }

  /** The fingerprint of a firing source that inhibits an alert with `labels`, or undefined. */
  inhibitedBy(labels: Labels): string | undefined {
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i] as InhibitRule;
      if (!matchesAll(r.target, labels)) continue;
      const twoSided = matchesAll(r.source, labels);
      const set = (this.index[i] as Map<string, Map<string, Labels>>).get(equalKey(r.equal, labels));
      if (!set) continue;
      for (const [fp, src] of set) {
        if (twoSided && matchesAll(r.target, src)) continue;
        return fp;
      }
    }
    return undefined;
  }
}

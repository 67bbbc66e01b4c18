import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileMatchers,
  formatMatchers,
  fromApiMatcher,
  matchesAll,
  MatcherError,
  parseMatchers,
  toApiMatcher,
} from './matchers.js';

describe('parseMatchers', () => {
  const cases: [string | string[], string][] = [
    [['service="api"'], '{service="api"}'],
    [['service="api"', 'env=~"prod|stage"'], '{env=~"prod|stage",service="api"}'],
    ['{service="api", env!~"dev.*"}', '{env!~"dev.*",service="api"}'],
    ['service = api', '{service="api"}'],
    [['a!=b', 'c=~d'], '{a!="b",c=~"d"}'],
    ['{a="with \\"quote\\" and , comma"}', '{a="with \\"quote\\" and , comma"}'],
    ['{a="x",}', '{a="x"}'],
    ['{"utf8 name"="v"}', '{"utf8 name"="v"}'],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => {
      assert.equal(formatMatchers(compileMatchers(input)), want);
    });
  }

  const bad: [string, RegExp][] = [
    ['service', /expected one of/],
    ['{service="api"', /missing closing/],
    ['1abc="x"', /invalid label name/],
    ['a=~"("', /invalid regex/],
    ['a="unterminated', /unterminated/],
    ['a="x" b="y"', /expected ","/],
  ];
  for (const [input, why] of bad) {
    test(`rejects ${input}`, () => {
      assert.throws(
        () => parseMatchers([input]),
        (e: unknown) => e instanceof MatcherError && why.test(e.message),
      );
    });
  }
});

describe('matching', () => {
  const labels = { alertname: 'cpu', service: 'api', env: 'prod' };
  const cases: [string, boolean][] = [
    ['service="api"', true],
    ['service!="api"', false],
    ['env=~"prod|stage"', true],
    ['env=~"pro"', false], // anchored
    ['env!~"dev|test"', true],
    ['team=""', true], // a missing label is the empty string
    ['team!=""', false],
    ['team=~".*"', true],
    ['env=~"(?i)PROD"', true], // RE2 flag group
    ['{service="api", env="dev"}', false],
  ];
  for (const [m, want] of cases) {
    test(`${m} → ${want}`, () => assert.equal(matchesAll(compileMatchers(m), labels), want));
  }
});

test('API matcher round trip', () => {
  for (const spec of parseMatchers(['a="1"', 'b!="2"', 'c=~"3"', 'd!~"4"'])) {
    assert.deepEqual(fromApiMatcher(toApiMatcher(spec)), spec);
  }
  assert.deepEqual(fromApiMatcher({ name: 'x', value: 'y', isRegex: false }), {
    name: 'x',
    type: '=',
    value: 'y',
  });
});

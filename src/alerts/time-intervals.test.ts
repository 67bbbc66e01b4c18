import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TimeIntervalSpecConfig } from './config.js';
import {
  compileTimeInterval,
  compileTimeIntervalSpec,
  intervalContains,
  specContains,
  type TimeIntervalSpec,
} from './time-intervals.js';

const spec = (s: TimeIntervalSpecConfig): TimeIntervalSpec => {
  const c = compileTimeIntervalSpec(s);
  if (Array.isArray(c)) throw new Error(c.map((i) => i.message).join('; '));
  return c;
};
const at = (iso: string): number => Date.parse(iso);

describe('time interval specs (known answers)', () => {
  const cases: [string, TimeIntervalSpecConfig, string, boolean][] = [
    [
      'evening in Berlin (UTC+1 before DST)',
      { times: [{ start_time: '17:00', end_time: '24:00' }], location: 'Europe/Berlin' },
      '2025-03-14T16:30:00Z',
      true,
    ],
    [
      'same instant in UTC',
      { times: [{ start_time: '17:00', end_time: '24:00' }] },
      '2025-03-14T16:30:00Z',
      false,
    ],
    [
      'end is exclusive',
      { times: [{ start_time: '09:00', end_time: '17:00' }] },
      '2025-03-14T17:00:00Z',
      false,
    ],
    [
      'start is inclusive',
      { times: [{ start_time: '09:00', end_time: '17:00' }] },
      '2025-03-14T09:00:00Z',
      true,
    ],
    ['weekday range', { weekdays: ['monday:friday'] }, '2025-03-14T12:00:00Z', true],
    ['saturday in UTC', { weekdays: ['friday'] }, '2025-03-15T02:00:00Z', false],
    [
      'still friday in New York (EDT)',
      { weekdays: ['friday'], location: 'America/New_York' },
      '2025-03-15T02:00:00Z',
      true,
    ],
    ['last day of a leap February', { days_of_month: ['-1'] }, '2024-02-29T12:00:00Z', true],
    ['Feb 28 is last in 2025', { days_of_month: ['-1'] }, '2025-02-28T12:00:00Z', true],
    ['Feb 27 is not last', { days_of_month: ['-1'] }, '2025-02-27T12:00:00Z', false],
    ['-3:-1 in a 30-day month', { days_of_month: ['-3:-1'] }, '2025-04-28T00:00:00Z', true],
    ['1:5 excludes the 31st', { days_of_month: ['1:5'] }, '2025-03-31T00:00:00Z', false],
    ['days 29:31 clamp in February', { days_of_month: ['29:31'] }, '2025-02-28T00:00:00Z', false],
    ['month names', { months: ['january:march'] }, '2025-03-14T00:00:00Z', true],
    ['month numbers', { months: ['4', 12] }, '2025-03-14T00:00:00Z', false],
    ['years', { years: ['2024:2025'] }, '2025-03-14T00:00:00Z', true],
    ['year outside', { years: [2026] }, '2025-03-14T00:00:00Z', false],
    [
      'DST gap: 02:00-03:00 local does not exist on 2025-03-30',
      { times: [{ start_time: '02:00', end_time: '03:00' }], location: 'Europe/Berlin' },
      '2025-03-30T01:30:00Z',
      false,
    ],
    [
      'all fields together',
      {
        times: [{ start_time: '12:00', end_time: '13:00' }],
        weekdays: ['friday'],
        days_of_month: ['14'],
        months: ['march'],
        years: ['2025'],
      },
      '2025-03-14T12:59:59Z',
      true,
    ],
  ];
  for (const [name, s, iso, want] of cases)
    test(name, () => assert.equal(specContains(spec(s), at(iso)), want));
});

test('a named interval matches when any spec does', () => {
  const weekends = compileTimeInterval({
    name: 'off',
    time_intervals: [
      { weekdays: ['saturday', 'sunday'] },
      { times: [{ start_time: '00:00', end_time: '06:00' }] },
    ],
  });
  assert.equal(intervalContains(weekends, at('2025-03-15T12:00:00Z')), true);
  assert.equal(intervalContains(weekends, at('2025-03-14T05:00:00Z')), true);
  assert.equal(intervalContains(weekends, at('2025-03-14T07:00:00Z')), false);
});

test('invalid specs are reported per field', () => {
  const c = compileTimeIntervalSpec({
    times: [
      { start_time: '25:00', end_time: '26:00' },
      { start_time: '10:00', end_time: '09:00' },
    ],
    weekdays: ['funday', 'friday:monday'],
    days_of_month: ['0', '40'],
    months: ['smarch'],
    location: 'Mars/Olympus',
  });
  assert.ok(Array.isArray(c));
  assert.deepEqual(
    c.map((i) => i.path.join('.')),
    [
      'times.0.start_time',
      'times.1',
      'weekdays.0',
      'weekdays.1',
      'days_of_month.0',
      'days_of_month.1',
      'months.0',
      'location',
    ],
  );
});

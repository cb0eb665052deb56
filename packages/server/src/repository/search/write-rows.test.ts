import { expect, test } from 'vitest';
import { emptySearchRows } from './rows.js';
import { appendSearchRowDeletes, appendSearchRowInserts } from './write-rows.js';

test('inserts: one unnest per non-empty table, parameters appended after the caller’s', () => {
  const rows = emptySearchRows();
  rows.token.push({ code: 'gender', system: null, value: 'male', text: null });
  rows.token.push({ code: 'identifier', system: 'http://mrn', value: '1', text: null });
  rows.date.push({ code: 'birthdate', start: '2024-01-01T00:00:00.000Z', end: '2024-12-31T23:59:59.999Z' });
  const values: unknown[] = ['existing'];
  const ctes = appendSearchRowInserts(rows, 'Patient', 'r', values);
  expect(ctes).toEqual([
    'INSERT INTO search_token (resource_type, resource_sid, code, system, value, text) ' +
      'SELECT $2::text, r.sid, u.* FROM r, unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS u',
    'INSERT INTO search_date (resource_type, resource_sid, code, start_at, end_at) ' +
      'SELECT $2::text, r.sid, u.* FROM r, unnest($7::text[], $8::timestamptz[], $9::timestamptz[]) AS u',
  ]);
  expect(values).toEqual([
    'existing',
    'Patient',
    ['gender', 'identifier'],
    [null, 'http://mrn'],
    ['male', '1'],
    [null, null],
    ['birthdate'],
    ['2024-01-01T00:00:00.000Z'],
    ['2024-12-31T23:59:59.999Z'],
  ]);
});

test('no rows, no statements', () => {
  const values: unknown[] = [];
  expect(appendSearchRowInserts(emptySearchRows(), 'Patient', 'r', values)).toEqual([]);
  expect(values).toEqual([]);
});

test('deletes: one per index table, by the sid the resource CTE returns', () => {
  const ctes = appendSearchRowDeletes('r');
  expect(ctes).toHaveLength(7);
  expect(ctes[0]).toBe('DELETE FROM search_token WHERE resource_sid = (SELECT sid FROM r)');
});

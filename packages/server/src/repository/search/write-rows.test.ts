import { expect, test } from 'vitest';
import { emptySearchRows } from './rows.js';
import { appendSearchRowDeletes, appendSearchRowInserts } from './write-rows.js';

test('inserts: one unnest per non-empty table, parameters appended after the caller’s', () => {
  const rows = emptySearchRows();
  rows.token.push({ code: 'gender', system: null, value: 'male', text: null });
  rows.token.push({ code: 'identifier', system: 'http://mrn', value: '1', text: null });
  rows.date.push({ code: 'birthdate', start: '2024-01-01T00:00:00.000Z', end: '2024-12-31T23:59:59.999Z' });
  const values: unknown[] = ['existing'];
  const ctes = appendSearchRowInserts(rows, 'Patient', 'p1', values);
  expect(ctes).toEqual([
    'INSERT INTO search_token (resource_type, resource_id, code, system, value, text) ' +
      'SELECT $2::text, $3::text, * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[])',
    'INSERT INTO search_date (resource_type, resource_id, code, start_at, end_at) ' +
      'SELECT $2::text, $3::text, * FROM unnest($8::text[], $9::timestamptz[], $10::timestamptz[])',
  ]);
  expect(values).toEqual([
    'existing',
    'Patient',
    'p1',
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
  expect(appendSearchRowInserts(emptySearchRows(), 'Patient', 'p1', values)).toEqual([]);
  expect(values).toEqual([]);
});

test('deletes: one per index table', () => {
  const values: unknown[] = [];
  const ctes = appendSearchRowDeletes('Patient', 'p1', values);
  expect(ctes).toHaveLength(7);
  expect(ctes[0]).toBe('DELETE FROM search_token WHERE resource_type = $1 AND resource_id = $2');
  expect(values).toEqual(['Patient', 'p1']);
});

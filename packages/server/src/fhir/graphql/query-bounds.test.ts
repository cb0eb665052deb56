import { describe, expect, test } from 'vitest';
import { checkGraphqlQuery, MAX_GRAPHQL_NESTING } from './query-bounds.js';

describe('checkGraphqlQuery', () => {
  test("accepts the web app's schema query shape", () => {
    expect(() =>
      checkGraphqlQuery({ query: '{ StructureDefinitionList(name: "Patient") { name snapshot { element { id } } } }' })
    ).not.toThrow();
  });

  test('refuses a missing query, deep nesting and huge queries before parsing', () => {
    expect(() => checkGraphqlQuery({})).toThrow(/needs a query/);
    expect(() => checkGraphqlQuery({ query: 5 })).toThrow(/needs a query/);
    const deep = `{${'PatientList { id '.repeat(MAX_GRAPHQL_NESTING + 1)}${'}'.repeat(MAX_GRAPHQL_NESTING + 2)}`;
    expect(() => checkGraphqlQuery({ query: deep })).toThrow(/nested deeper/);
    expect(() => checkGraphqlQuery({ query: `{ PatientList(name: "${'['.repeat(100)}") { id } }` })).not.toThrow();
    expect(() => checkGraphqlQuery({ query: `{ ${'id '.repeat(30_000)} }` })).toThrow(/longer than/);
  });
});

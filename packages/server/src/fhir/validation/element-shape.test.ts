import type { Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { elementShapeIssues } from './element-shape.js';

describe('elementShapeIssues', () => {
  test('names every empty object or array, at any depth', () => {
    const issues = elementShapeIssues({
      resourceType: 'Patient',
      gender: {},
      name: [{ given: [] }],
      managingOrganization: { reference: [] },
    } as never);
    expect(issues.map((i) => i.expression?.[0]).sort()).toEqual([
      'Patient.gender',
      'Patient.managingOrganization.reference',
      'Patient.name[0].given',
    ]);
  });

  test('names elements called like Object.prototype members', () => {
    const resource = JSON.parse(
      '{"resourceType":"Patient","valueOf":1,"name":[{"__proto__":{"x":1},"constructor":"x"}]}'
    );
    expect(
      elementShapeIssues(resource)
        .map((i) => i.expression?.[0])
        .sort()
    ).toEqual(['Patient.name[0].__proto__', 'Patient.name[0].constructor', 'Patient.valueOf']);
  });

  test('a resource with values everywhere has none', () => {
    expect(elementShapeIssues({ resourceType: 'Patient', name: [{ given: ['A'] }], active: false })).toEqual([]);
  });
});

test('control characters other than tab, CR and LF are refused, with their element', () => {
  const issues = elementShapeIssues({
    resourceType: 'Patient',
    name: [{ family: 'Otieno\u0000' }],
    address: [{ text: 'Line one\r\nLine two\twith a tab' }],
  } as Resource);
  expect(issues.map((i) => i.expression?.[0])).toEqual(['Patient.name[0].family']);
  expect(elementShapeIssues({ resourceType: 'Patient', gender: 'male\u001b' } as unknown as Resource)).toHaveLength(1);
});

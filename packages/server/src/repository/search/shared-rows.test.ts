import { expect, test } from 'vitest';
import { findSharedRows, type ParamShape } from './shared-rows.js';

const param = (code: string, type: ParamShape['type'], expression: string, elementTypes?: string[]): ParamShape => ({
  code,
  type,
  expression,
  elementTypes,
});

test('same type and expression: rows under the alphabetically first code, whatever the order', () => {
  const shared = findSharedRows([
    param('phonetic', 'string', 'Patient.name'),
    param('name', 'string', 'Patient.name'),
    param('family', 'string', 'Patient.name.family'),
    param('name-token', 'token', 'Patient.name'),
  ]);
  expect([...shared]).toEqual([['phonetic', { code: 'name' }]]);
});

test('token subset by system: only over elements whose rows carry their own system', () => {
  const shared = findSharedRows([
    param('telecom', 'token', 'Patient.telecom', ['ContactPoint']),
    param('phone', 'token', "Patient.telecom.where((system = 'phone'))"),
    param('code', 'token', 'Observation.code', ['CodeableConcept']),
    param('loinc', 'token', "Observation.code.where((system = 'http://loinc.org'))"),
  ]);
  expect([...shared]).toEqual([['phone', { code: 'telecom', system: 'phone' }]]);
});

test('reference subset by target type keeps its identifiers; aliases of a subset follow it', () => {
  const shared = findSharedRows([
    param('subject', 'reference', 'Observation.subject', ['Reference']),
    param('patient', 'reference', 'Observation.subject.where((resolve() is Patient))'),
    param('zpatient', 'reference', 'Observation.subject.where((resolve() is Patient))'),
    param('canon', 'reference', 'X.canon', ['canonical']),
    param('canon-sd', 'reference', 'X.canon.where((resolve() is StructureDefinition))'),
  ]);
  const subset = { code: 'subject', targetType: 'Patient', identifiersOf: 'patient' };
  expect(Object.fromEntries(shared)).toEqual({ patient: subset, zpatient: subset });
});

test('a subset of a subset is not shared (its base writes no rows of its own)', () => {
  const shared = findSharedRows([
    param('telecom', 'token', 'Patient.telecom', ['ContactPoint']),
    param('phone', 'token', "Patient.telecom.where((system = 'phone'))", ['ContactPoint']),
    param('phone-x', 'token', "Patient.telecom.where((system = 'phone')).where((system = 'x'))"),
  ]);
  expect(Object.fromEntries(shared)).toEqual({ phone: { code: 'telecom', system: 'phone' } });
});

test('string subset by part: a name or address element the part rows record', () => {
  const shared = findSharedRows([
    param('name', 'string', 'Patient.name', ['HumanName']),
    param('family', 'string', 'Patient.name.family', ['string']),
    param('address', 'string', 'Patient.address', ['Address']),
    param('address-city', 'string', 'Patient.address.city', ['string']),
    param('address-text', 'string', 'Patient.address.text', ['string']),
    param('title', 'string', 'Book.title', ['string']),
    param('title-x', 'string', 'Book.title.x', ['string']),
  ]);
  expect(Object.fromEntries(shared)).toEqual({
    family: { code: 'name', part: 'family' },
    'address-city': { code: 'address', part: 'city' },
  });
});

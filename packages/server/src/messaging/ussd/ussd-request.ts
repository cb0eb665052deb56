import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { FastifyRequest } from 'fastify';
import { readFormFields } from '../../http/form-fields.js';
import { normalizePhone } from '../phone.js';

/** One screen request of Africa's Talking's USSD API (form-encoded). https://developers.africastalking.com/docs/ussd/handle_sessions */
export interface UssdScreenRequest {
  sessionId: string;
  serviceCode: string;
  /** E.164. */
  phoneNumber: string;
  networkCode?: string;
  /** Empty on the first screen, then every input so far joined by `*`. */
  text: string;
}

/** A whole request is a few hundred bytes; this leaves room for long inputs and new fields. */
export const USSD_BODY_LIMIT = 4096;
const SESSION_ID = /^[\w.:-]{1,128}$/;
const SERVICE_CODE = /^[*#\d]{2,40}$/;
const NETWORK_CODE = /^[\w-]{0,16}$/;
/** USSD input is typed on a keypad: digits, `*` and `#`, a few letters at most. No control characters. */
const TEXT = /^[^\p{Cc}]{0,1000}$/u;

/** The fields of a screen request; a 4xx error (nothing stored) when they are missing or malformed. */
export function parseUssdRequest(request: FastifyRequest): UssdScreenRequest {
  // 415 unless form-encoded, 400 for a repeated field.
  const fields = readFormFields(request);
  const field = (name: string, required: boolean, pattern: RegExp): string | undefined => {
    const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (value === undefined) {
      if (required) {
        throw new OperationOutcomeError(badRequest(`Missing ${name}`, name));
      }
      return undefined;
    }
    if (!pattern.test(value)) {
      throw new OperationOutcomeError(badRequest(`Invalid ${name}`, name));
    }
    return value;
  };
  const sessionId = field('sessionId', true, SESSION_ID) as string;
  const serviceCode = field('serviceCode', true, SERVICE_CODE) as string;
  const rawPhone = field('phoneNumber', true, /^[+\d\s()-]{1,32}$/) as string;
  // Africa's Talking writes `+254…`; a number in full international form without its `+` is read as one
  // (a local `07…` starts with 0, which no country code does, and is refused).
  const phoneNumber = normalizePhone(/^[1-9]\d{7,14}$/.test(rawPhone.trim()) ? `+${rawPhone.trim()}` : rawPhone);
  if (!phoneNumber) {
    throw new OperationOutcomeError(badRequest('phoneNumber must be an international number (+254…)', 'phoneNumber'));
  }
  const networkCode = field('networkCode', false, NETWORK_CODE) || undefined;
  const text = field('text', false, TEXT) ?? '';
  return { sessionId, serviceCode, phoneNumber, networkCode, text };
}

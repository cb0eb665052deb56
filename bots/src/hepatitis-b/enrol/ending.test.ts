import { beforeEach, describe, expect, test } from 'vitest';
import { CHANNEL_URL, programmeExtensions, readProgrammeSettings } from '../programme.js';
import { EnrolmentFixture } from './test-fixtures.js';

describe('hepatitis-b-enrol: ending, pausing, re-opening, keeping changes', () => {
  let f: EnrolmentFixture;

  beforeEach(async () => {
    f = await EnrolmentFixture.create();
  });

  test('stopping the last prescription completes the enrolment; period.end is set', async () => {
    const request = await f.prescribe();
    await f.run(request);

    const stopped = await f.medplum.updateResource({ ...request, status: 'stopped' as const });
    const result = await f.run(stopped);

    const [plan] = await f.plansFor();
    expect(result).toEqual({ outcome: 'ended', carePlan: `CarePlan/${plan.id}`, status: 'completed' });
    expect(plan.status).toBe('completed');
    expect(plan.period?.end).toBeDefined();
    expect(await f.run(stopped)).toMatchObject({ outcome: 'skipped' });
  });

  test('a prescription entered in error revokes the enrolment', async () => {
    const request = await f.prescribe();
    await f.run(request);

    const result = await f.run(await f.medplum.updateResource({ ...request, status: 'entered-in-error' as const }));

    expect(result).toMatchObject({ outcome: 'ended', status: 'revoked' });
  });

  test('while another programme prescription is active the enrolment stays open and follows it', async () => {
    const first = await f.prescribe();
    const second = await f.prescribe({ medicationCodeableConcept: { text: 'Entecavir 0.5 mg' } });
    await f.run(first);

    const result = await f.run(await f.medplum.updateResource({ ...first, status: 'completed' as const }));

    const [plan] = await f.plansFor();
    expect(result).toMatchObject({ outcome: 'updated', status: 'draft' });
    expect(plan.activity).toEqual([{ reference: { reference: `MedicationRequest/${second.id}` } }]);
  });

  test('a paused prescription leaves the enrolment as it is', async () => {
    const request = await f.prescribe();
    await f.run(request);

    const result = await f.run(await f.medplum.updateResource({ ...request, status: 'on-hold' as const }));

    expect(result).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/paused/) });
    expect((await f.plansFor())[0].status).toBe('draft');
  });

  test("a clinician's changes to schedule, language and channel are kept", async () => {
    const request = await f.prescribe();
    await f.run(request);
    const [plan] = await f.plansFor();
    const changed = {
      schedule: { dayOfWeek: 'thu' as const, hourOfDay: 17 },
      language: 'en',
      channel: 'whatsapp' as const,
    };
    await f.medplum.updateResource({ ...plan, extension: programmeExtensions(changed, 'awaiting-consent') });

    await f.decide('permit');
    await f.run(request);

    const [updated] = await f.plansFor();
    expect(readProgrammeSettings(updated)).toEqual(changed);
    expect(updated.extension?.filter((ext) => ext.url === CHANNEL_URL)).toHaveLength(1);
    expect(updated.status).toBe('active');
  });

  test('a new prescription after the end re-opens the same CarePlan with a new period', async () => {
    const request = await f.prescribe();
    await f.run(request);
    await f.run(await f.medplum.updateResource({ ...request, status: 'stopped' as const }));

    const result = await f.run(await f.prescribe());

    const plans = await f.plansFor();
    expect(plans).toHaveLength(1);
    expect(result).toMatchObject({ outcome: 'updated', status: 'draft' });
    expect(plans[0].period?.end).toBeUndefined();
  });
});

import { Alert, Group, Paper, SegmentedControl, Stack, Text, TextInput, Title } from '@mantine/core';
import { isNotFound, normalizeErrorString, normalizeOperationOutcome } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { Loading, ResourceInput, useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { MessageThread } from './MessageThread';
import { type SimulatorChannels, simulatorApi } from './simulator-api';
import { UssdSession } from './UssdSession';

/** A number that reaches no real phone, for trying things out. */
const DEMO_PHONE = '+254700000001';
const E164 = /^\+[1-9]\d{6,14}$/;

/** The patient's mobile number in E.164, if they have one written that way. */
function mobileOf(patient: Patient | undefined): string | undefined {
  const telecom = patient?.telecom?.filter((t) => t.system === 'phone') ?? [];
  const value = (telecom.find((t) => t.use === 'mobile') ?? telecom[0])?.value?.replace(/[\s.\-()]/g, '');
  return value && E164.test(value) ? value : undefined;
}

/**
 * Plays a patient's phone against the real webhooks: the SMS and WhatsApp thread as the patient
 * sees it, replies, and USSD menus. Outbound messages land in the server's Twilio stand-in.
 */
export function PhoneSimulatorPage() {
  const medplum = useMedplum();
  const [available, setAvailable] = useState<SimulatorChannels>();
  const [problem, setProblem] = useState<string>();
  const [off, setOff] = useState(false);
  const [phone, setPhone] = useState(DEMO_PHONE);
  const [choice, setChoice] = useState<string>();

  useEffect(() => {
    simulatorApi
      .channels(medplum)
      .then((found) => {
        // SMS first: what most patients' phones speak.
        found.channels.sort((a, b) => (a.medium === b.medium ? 0 : a.medium === 'sms' ? -1 : 1));
        setAvailable(found);
        setChoice(found.channels[0]?.id ?? found.ussd?.[0]?.id);
      })
      .catch((err: unknown) =>
        isNotFound(normalizeOperationOutcome(err)) ? setOff(true) : setProblem(normalizeErrorString(err))
      );
  }, [medplum]);

  if (off || problem) {
    return (
      <Alert color="yellow" title={off ? 'The phone simulator is off' : 'The phone simulator failed'}>
        {off
          ? 'It needs the local Twilio stand-in: start the server with TWILIO_STAND_IN=true (npm start does).'
          : problem}
      </Alert>
    );
  }
  if (!available) {
    return <Loading />;
  }
  const textChannel = available.channels.find((c) => c.id === choice);
  const ussdChannel = available.ussd?.find((c) => c.id === choice);
  const validPhone = E164.test(phone);
  const options = [
    ...available.channels.map((c) => ({ value: c.id, label: c.medium === 'sms' ? 'SMS' : 'WhatsApp' })),
    ...(available.ussd ?? []).map((c) => ({ value: c.id, label: `USSD ${c.serviceCode}` })),
  ];
  return (
    <Stack maw={720}>
      <Title order={2}>Phone simulator</Title>
      <Text c="dimmed" size="sm">
        Be the patient: what you send goes through the same signed webhooks as a real phone's messages, and what the
        clinic sends arrives here instead of at a real phone.
      </Text>
      <Group align="flex-end" grow>
        <ResourceInput<Patient>
          resourceType="Patient"
          name="patient"
          label="Patient"
          placeholder="Pick a patient to use their mobile number"
          onChange={(patient) => {
            const mobile = mobileOf(patient);
            if (mobile) {
              setPhone(mobile);
            }
          }}
        />
        <TextInput
          label="Phone number"
          value={phone}
          onChange={(e) => setPhone(e.currentTarget.value.trim())}
          error={validPhone ? undefined : 'An international number like +254712345678'}
        />
      </Group>
      {options.length === 0 ? (
        <Alert color="yellow">This project has no messaging channel yet.</Alert>
      ) : (
        <SegmentedControl data={options} value={choice} onChange={setChoice} />
      )}
      <Paper withBorder p="md">
        {validPhone && textChannel && (
          <MessageThread key={`${phone} ${textChannel.id}`} phone={phone} channel={textChannel} />
        )}
        {validPhone && ussdChannel && (
          <UssdSession key={`${phone} ${ussdChannel.id}`} phone={phone} channel={ussdChannel} />
        )}
      </Paper>
    </Stack>
  );
}

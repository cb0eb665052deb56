import { Paper, Stack, Title } from '@mantine/core';
import { normalizeOperationOutcome } from '@medplum/core';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import { ResourceForm, useMedplum } from '@medplum/react';
import { useState } from 'react';
import { useNavigate } from 'react-router';

// Stable across renders: ResourceForm reloads its schema when its default value changes.
const NEW_PATIENT: Patient = { resourceType: 'Patient' };

/** Creates a Patient; the server's validation errors show next to the fields they concern. */
export function NewPatientPage() {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const [outcome, setOutcome] = useState<OperationOutcome>();
  return (
    <Stack>
      <Title order={2}>New patient</Title>
      <Paper withBorder p="md">
        <ResourceForm
          defaultValue={NEW_PATIENT}
          outcome={outcome}
          onSubmit={(resource) => {
            setOutcome(undefined);
            medplum
              .createResource(resource as Patient)
              .then((created) => navigate(`/Patient/${created.id}`))
              .catch((err: unknown) => setOutcome(normalizeOperationOutcome(err)));
          }}
        />
      </Paper>
    </Stack>
  );
}

import { Paper, Stack, Tabs, Title } from '@mantine/core';
import { showNotification } from '@mantine/notifications';
import { formatHumanName, normalizeOperationOutcome, type WithId } from '@medplum/core';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';
import { Loading, OperationOutcomeAlert, ResourceForm, ResourceTable, useMedplum, useResource } from '@medplum/react';
import { useMemo, useState } from 'react';
import { useParams } from 'react-router';

/** One patient: its data (ResourceTable) and an edit form (ResourceForm, update with If-Match). */
export function PatientPage() {
  const { id } = useParams();
  const medplum = useMedplum();
  const [loadOutcome, setLoadOutcome] = useState<OperationOutcome>();
  const [saveOutcome, setSaveOutcome] = useState<OperationOutcome>();
  const [tab, setTab] = useState<string | null>('details');
  const reference = useMemo(() => ({ reference: `Patient/${id}` }), [id]);
  const loaded = useResource<Patient>(reference, setLoadOutcome);
  // The version this page saved last; newer than what was loaded.
  const [saved, setSaved] = useState<WithId<Patient>>();
  const patient = saved?.id === id ? saved : loaded;

  if (loadOutcome) {
    return <OperationOutcomeAlert outcome={loadOutcome} />;
  }
  if (!patient) {
    return <Loading />;
  }
  const name = patient.name?.[0] ? formatHumanName(patient.name[0]) : `Patient/${patient.id}`;
  const save = (resource: Patient): void => {
    setSaveOutcome(undefined);
    medplum
      .updateResource(resource)
      .then((updated) => {
        setSaved(updated);
        showNotification({ color: 'green', message: 'Saved' });
        setTab('details');
      })
      .catch((err: unknown) => setSaveOutcome(normalizeOperationOutcome(err)));
  };
  return (
    <Stack>
      <Title order={2}>{name}</Title>
      <Tabs value={tab} onChange={setTab} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="details">Details</Tabs.Tab>
          <Tabs.Tab value="edit">Edit</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="details" pt="md">
          <Paper withBorder p="md">
            <ResourceTable value={patient} ignoreMissingValues />
          </Paper>
        </Tabs.Panel>
        <Tabs.Panel value="edit" pt="md">
          <Paper withBorder p="md">
            <ResourceForm
              key={patient.meta?.versionId}
              defaultValue={patient}
              outcome={saveOutcome}
              onSubmit={(resource) => save(resource as Patient)}
            />
          </Paper>
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

import { Stack, Title } from '@mantine/core';
import { formatSearchQuery, parseSearchRequest, type SearchRequest } from '@medplum/core';
import { SearchControl } from '@medplum/react';
import { useMemo } from 'react';
import { useLocation, useNavigate } from 'react-router';

const DEFAULT_FIELDS = ['name', 'birthDate', 'gender', '_lastUpdated'];

/**
 * All patients the user may see; a click opens the patient. The search lives in the URL
 * (/Patient?name=Ama&_sort=-_lastUpdated), so it survives a reload and can be shared.
 */
export function PatientListPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const search = useMemo(() => searchFromUrl(location.search), [location.search]);
  return (
    <Stack>
      <Title order={2}>Patients</Title>
      <SearchControl
        search={search}
        onChange={(e) => void navigate(`/Patient${formatSearchQuery(e.definition)}`)}
        onClick={(e) => void navigate(`/Patient/${e.resource.id}`)}
        onNew={() => void navigate('/Patient/new')}
        hideFilters
      />
    </Stack>
  );
}

function searchFromUrl(query: string): SearchRequest {
  const parsed = parseSearchRequest(`Patient${query}`);
  return {
    ...parsed,
    fields: parsed.fields?.length ? parsed.fields : DEFAULT_FIELDS,
    sortRules: parsed.sortRules?.length ? parsed.sortRules : [{ code: '_lastUpdated', descending: true }],
    count: parsed.count ?? 20,
  };
}

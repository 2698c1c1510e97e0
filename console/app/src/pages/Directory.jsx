// The provider directory: every Practitioner of the project with their
// clinics and specialties (PractitionerRole), searchable by name, specialty
// and clinic. Read-only; clinicians read it through their policy.
import { Badge, Group, Select, Stack, TextInput, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { allClinics, humanName, SNOMED, SPECIALTIES, useLoad, usePagedSearch } from '../lib.js';
import { PagedTable } from './Paged.jsx';

export default function Directory() {
  const medplum = useMedplum();
  const [name, setName] = useState('');
  const [specialty, setSpecialty] = useState(null);
  const [clinic, setClinic] = useState(null);
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const query = { _revinclude: 'PractitionerRole:practitioner', _sort: 'family' };
  if (name) {
    query.name = name;
  }
  if (specialty) {
    query['_has:PractitionerRole:practitioner:specialty'] = `${SNOMED}|${specialty}`;
  }
  if (clinic) {
    query['_has:PractitionerRole:practitioner:organization'] = clinic;
  }
  const result = usePagedSearch('Practitioner', query);
  const clinicName = new Map((clinics.data ?? []).map((c) => [`Organization/${c.id}`, c.name]));
  const rolesOf = (p) => (result.included ?? []).filter((r) => r.resourceType === 'PractitionerRole' && r.practitioner?.reference === `Practitioner/${p.id}`);

  return (
    <Stack>
      <Title order={2}>Provider directory</Title>
      <Group align="end">
        <TextInput label="Name" placeholder="Name…" value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <Select label="Specialty" data={SPECIALTIES} value={specialty} onChange={setSpecialty} clearable />
        <Select
          label="Clinic"
          data={(clinics.data ?? []).map((c) => ({ value: `Organization/${c.id}`, label: c.name ?? c.id }))}
          value={clinic}
          onChange={setClinic}
          clearable
          searchable
        />
      </Group>
      <PagedTable
        testId="directory"
        result={result}
        columns={[
          { title: 'Name', render: humanName },
          {
            title: 'Clinics',
            render: (p) =>
              rolesOf(p)
                .map((r) => clinicName.get(r.organization?.reference) ?? r.organization?.display)
                .filter(Boolean)
                .join(', '),
          },
          {
            title: 'Specialties',
            render: (p) => (
              <Group gap={4}>
                {[...new Set(rolesOf(p).flatMap((r) => (r.specialty ?? []).map((s) => s.text ?? s.coding?.[0]?.display)))].filter(Boolean).map((s) => (
                  <Badge key={s} variant="light">
                    {s}
                  </Badge>
                ))}
              </Group>
            ),
          },
        ]}
      />
    </Stack>
  );
}

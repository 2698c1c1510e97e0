// Clinics are the project's Organizations: search by name, page, create.
import { Button, Group, Stack, TextInput, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { showError, showSuccess, usePagedSearch } from '../lib.js';
import { PagedTable } from './Paged.jsx';

export default function Clinics() {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const [filter, setFilter] = useState('');
  const [name, setName] = useState('');
  const [saving, setSaving] = useState(false);
  const result = usePagedSearch('Organization', filter ? { name: filter, _sort: 'name' } : { _sort: 'name' });

  async function create(e) {
    e.preventDefault();
    setSaving(true);
    try {
      const clinic = await medplum.createResource({ resourceType: 'Organization', name: name.trim(), active: true });
      showSuccess(`Clinic ${clinic.name} created`);
      setName('');
      result.reload();
    } catch (err) {
      showError('Could not create the clinic', err);
    } finally {
      setSaving(false);
    }
  }

  return (
    <Stack>
      <Title order={2}>Clinics</Title>
      <form onSubmit={create}>
        <Group align="end">
          <TextInput label="New clinic" placeholder="Clinic name" value={name} onChange={(e) => setName(e.currentTarget.value)} required name="clinicName" />
          <Button type="submit" loading={saving} disabled={!name.trim()}>
            Create clinic
          </Button>
        </Group>
      </form>
      <TextInput label="Search" placeholder="Name starts with…" value={filter} onChange={(e) => setFilter(e.currentTarget.value)} w={300} />
      <PagedTable
        testId="clinics"
        result={result}
        onRowClick={(r) => navigate(`/clinics/${r.id}`)}
        columns={[
          { title: 'Name', render: (r) => r.name },
          { title: 'Active', render: (r) => (r.active === false ? 'no' : 'yes') },
          { title: 'Updated', render: (r) => r.meta?.lastUpdated?.slice(0, 10) },
        ]}
      />
    </Stack>
  );
}

// Patients: what the caller's policy lets them see (a clinician: their
// clinics' patients), searchable by name, paged. Admins enroll a new
// patient in clinics right away ($set-accounts).
import { Button, Group, MultiSelect, SimpleGrid, Stack, TextInput, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { allClinics, humanName, setPatientClinics, showError, showSuccess, useLoad, usePagedSearch } from '../lib.js';
import { PagedTable } from './Paged.jsx';

const empty = { given: '', family: '', birthDate: '', clinics: [] };

export default function Patients({ admin }) {
  const medplum = useMedplum();
  const navigate = useNavigate();
  const [filter, setFilter] = useState('');
  const [form, setForm] = useState(empty);
  const [saving, setSaving] = useState(false);
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const result = usePagedSearch('Patient', filter ? { name: filter, _sort: 'family' } : { _sort: 'family' });
  const clinicName = new Map((clinics.data ?? []).map((c) => [`Organization/${c.id}`, c.name]));

  async function create(e) {
    e.preventDefault();
    setSaving(true);
    try {
      const patient = await medplum.createResource({
        resourceType: 'Patient',
        name: [{ given: [form.given.trim()], family: form.family.trim() }],
        birthDate: form.birthDate || undefined,
      });
      if (admin && form.clinics.length) {
        await setPatientClinics(medplum, patient.id, form.clinics);
      }
      showSuccess(`Patient ${humanName(patient)} created`);
      setForm(empty);
      result.reload();
    } catch (err) {
      showError('Could not create the patient', err);
    } finally {
      setSaving(false);
    }
  }

  return (
    <Stack>
      <Title order={2}>Patients</Title>
      <form onSubmit={create}>
        <Stack maw={720}>
          <Title order={4}>New patient</Title>
          <SimpleGrid cols={admin ? 4 : 3}>
            <TextInput label="Given name" name="given" required value={form.given} onChange={(e) => setForm({ ...form, given: e.currentTarget.value })} />
            <TextInput label="Family name" name="family" required value={form.family} onChange={(e) => setForm({ ...form, family: e.currentTarget.value })} />
            <TextInput label="Birth date" name="birthDate" type="date" value={form.birthDate} onChange={(e) => setForm({ ...form, birthDate: e.currentTarget.value })} />
            {admin && (
              <MultiSelect
                label="Clinics"
                name="clinics"
                data={(clinics.data ?? []).map((c) => ({ value: `Organization/${c.id}`, label: c.name ?? c.id }))}
                value={form.clinics}
                onChange={(clinics) => setForm({ ...form, clinics })}
              />
            )}
          </SimpleGrid>
          <Group>
            <Button type="submit" loading={saving}>
              Create patient
            </Button>
          </Group>
        </Stack>
      </form>
      <TextInput label="Search" placeholder="Name…" value={filter} onChange={(e) => setFilter(e.currentTarget.value)} w={300} />
      <PagedTable
        testId="patients"
        result={result}
        onRowClick={(p) => navigate(`/patients/${p.id}`)}
        columns={[
          { title: 'Name', render: humanName },
          { title: 'Birth date', render: (p) => p.birthDate },
          { title: 'Clinics', render: (p) => (p.meta?.accounts ?? []).map((a) => clinicName.get(a.reference) ?? a.display ?? a.reference).join(', ') },
        ]}
      />
    </Stack>
  );
}

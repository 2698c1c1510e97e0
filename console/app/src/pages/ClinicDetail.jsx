// One clinic: edit its details; its clinicians (memberships with an access
// entry for it) and its patients (Patient?_compartment=Organization/<id>).
import { Anchor, Button, Checkbox, Group, Loader, Stack, Table, TextInput, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { clinicsOf, humanName, loadClinicians, showError, showSuccess, useLoad, usePagedSearch } from '../lib.js';
import { PagedTable } from './Paged.jsx';

export default function ClinicDetail() {
  const { id } = useParams();
  const medplum = useMedplum();
  const navigate = useNavigate();
  const clinic = useLoad(() => medplum.readResource('Organization', id), [id], 'the clinic');
  const clinicians = useLoad(() => loadClinicians(medplum), [], 'clinicians');
  const patients = usePagedSearch('Patient', { _compartment: `Organization/${id}` });
  const [draft, setDraft] = useState();
  const [saving, setSaving] = useState(false);
  useEffect(() => setDraft(clinic.data), [clinic.data]);

  if (clinic.loading && !draft) {
    return <Loader />;
  }
  if (!draft) {
    return <Title order={3}>Clinic not found</Title>;
  }
  const phone = draft.telecom?.find((t) => t.system === 'phone')?.value ?? '';

  async function save(e) {
    e.preventDefault();
    setSaving(true);
    try {
      const saved = await medplum.updateResource(draft);
      setDraft(saved);
      showSuccess(`Clinic ${saved.name} saved`);
    } catch (err) {
      showError('Could not save the clinic', err);
    } finally {
      setSaving(false);
    }
  }

  const ref = `Organization/${id}`;
  const staff = (clinicians.data ?? []).filter((c) => clinicsOf(c.membership).includes(ref));
  return (
    <Stack>
      <Title order={2}>{clinic.data?.name}</Title>
      <form onSubmit={save}>
        <Stack maw={480}>
          <TextInput label="Name" required value={draft.name ?? ''} onChange={(e) => setDraft({ ...draft, name: e.currentTarget.value })} />
          <TextInput
            label="Phone"
            value={phone}
            onChange={(e) => {
              const value = e.currentTarget.value;
              setDraft({ ...draft, telecom: value ? [{ system: 'phone', value }] : undefined });
            }}
          />
          <Checkbox label="Active" checked={draft.active !== false} onChange={(e) => setDraft({ ...draft, active: e.currentTarget.checked })} />
          <Group>
            <Button type="submit" loading={saving}>
              Save clinic
            </Button>
          </Group>
        </Stack>
      </form>
      <Title order={3}>Clinicians</Title>
      {clinicians.loading ? (
        <Loader size="sm" />
      ) : (
        <Table data-testid="clinic-clinicians">
          <Table.Tbody>
            {staff.map(({ membership, practitioner }) => (
              <Table.Tr key={membership.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/clinicians/${membership.id}`}>
                    {humanName(practitioner)}
                  </Anchor>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Title order={3}>Patients</Title>
      <PagedTable
        testId="clinic-patients"
        result={patients}
        onRowClick={(p) => navigate(`/patients/${p.id}`)}
        columns={[
          { title: 'Name', render: humanName },
          { title: 'Birth date', render: (p) => p.birthDate },
        ]}
      />
    </Stack>
  );
}

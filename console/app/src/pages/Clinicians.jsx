// Clinicians: the project's Practitioner memberships and an invite form
// (one access entry per clinic: the MSO policy with the clinic as its
// organization parameter, plus a PractitionerRole per clinic for the
// directory).
import { Anchor, Button, Code, Group, LoadingOverlay, MultiSelect, Pagination, Select, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { Link } from 'react-router';
import { allClinics, clinicAccess, clinicsOf, EMPTY_INVITE, findPolicy, humanName, inviteMember, loadClinicians, practitionerRole, showError, showSuccess, SPECIALTIES, useClientPage, useLoad } from '../lib.js';
import { InviteFields } from './InviteFields.jsx';

const empty = { ...EMPTY_INVITE, clinics: [], specialty: null };

export default function Clinicians() {
  const medplum = useMedplum();
  const projectId = medplum.getProject()?.id;
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const list = useLoad(() => loadClinicians(medplum), [], 'clinicians');
  const pager = useClientPage(list.data);
  const [form, setForm] = useState(empty);
  const [saving, setSaving] = useState(false);
  const [invited, setInvited] = useState();
  const clinicName = new Map((clinics.data ?? []).map((c) => [`Organization/${c.id}`, c.name]));
  const set = (k) => (e) => setForm({ ...form, [k]: e?.currentTarget ? e.currentTarget.value : e });

  async function invite(e) {
    e.preventDefault();
    setSaving(true);
    try {
      const policy = await findPolicy(medplum);
      if (!policy) {
        throw new Error('Create the MSO access policy first (Access policy page).');
      }
      const policyRef = `AccessPolicy/${policy.id}`;
      const membership = await inviteMember(medplum, projectId, form, {
        scope: 'project',
        membership: { accessPolicy: { reference: policyRef }, access: form.clinics.map((c) => clinicAccess(policyRef, c)) },
      });
      for (const c of form.clinics) {
        await medplum.createResource(practitionerRole(membership.profile.reference, c, form.specialty));
      }
      setInvited({ name: `${form.firstName} ${form.lastName}`, email: form.email });
      showSuccess(`${form.firstName} ${form.lastName} invited`);
      setForm(empty);
      list.reload();
    } catch (err) {
      showError('Could not invite the clinician', err);
    } finally {
      setSaving(false);
    }
  }

  return (
    <Stack>
      <Title order={2}>Clinicians</Title>
      <form onSubmit={invite}>
        <Stack maw={720}>
          <Title order={4}>Invite a clinician</Title>
          <SimpleGrid cols={2}>
            <InviteFields form={form} set={set} passwordHint="Optional; Ward sends no email" />
            <MultiSelect
              label="Clinics"
              name="clinics"
              data={(clinics.data ?? []).map((c) => ({ value: `Organization/${c.id}`, label: c.name ?? c.id }))}
              value={form.clinics}
              onChange={set('clinics')}
              searchable
            />
            <Select label="Specialty" name="specialty" data={SPECIALTIES} value={form.specialty} onChange={set('specialty')} clearable />
          </SimpleGrid>
          <Group>
            <Button type="submit" loading={saving}>
              Invite clinician
            </Button>
          </Group>
        </Stack>
      </form>
      {invited && (
        <Text size="sm" data-testid="invited">
          {invited.name} signs in at <Code>{`${window.location.origin}/signin?project=${projectId}`}</Code> as {invited.email}.
        </Text>
      )}
      <div style={{ position: 'relative' }}>
        <LoadingOverlay visible={list.loading} />
        <Table striped data-testid="clinicians">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Clinics</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {pager.rows.map(({ membership, practitioner }) => (
              <Table.Tr key={membership.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/clinicians/${membership.id}`}>
                    {humanName(practitioner)}
                  </Anchor>
                  {membership.admin ? ' (admin)' : ''}
                </Table.Td>
                <Table.Td>{clinicsOf(membership).map((c) => clinicName.get(c) ?? c).join(', ')}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        {pager.pages > 1 && <Pagination mt="sm" size="sm" total={pager.pages} value={pager.page} onChange={pager.setPage} />}
      </div>
    </Stack>
  );
}

// Project members: the project (GET /admin/projects/:id), every
// membership with its profile, role and clinics, and adding a person by
// email (an existing Ward user keeps one login for all their projects and
// chooses the project when signing in).
import { Badge, Button, Checkbox, Group, Loader, Pagination, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { allClinics, clinicsOf, EMPTY_INVITE, inviteMember, showError, showSuccess, useClientPage, useLoad } from '../lib.js';
import { InviteFields } from './InviteFields.jsx';

const empty = { ...EMPTY_INVITE, admin: false };

export default function Members() {
  const medplum = useMedplum();
  const projectId = medplum.getProject()?.id;
  const project = useLoad(() => medplum.get(`admin/projects/${projectId}`, { cache: 'no-cache' }), [projectId], 'the project');
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const members = useLoad(() => medplum.searchResources('ProjectMembership', { _count: 1000 }), [], 'members');
  const clinicName = new Map((clinics.data ?? []).map((c) => [`Organization/${c.id}`, c.name]));
  const pager = useClientPage(members.data);
  const [form, setForm] = useState(empty);
  const [saving, setSaving] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: k === 'admin' ? e.currentTarget.checked : e.currentTarget.value });

  async function add(e) {
    e.preventDefault();
    setSaving(true);
    try {
      await inviteMember(medplum, projectId, form, { membership: { admin: form.admin } });
      showSuccess(`${form.email} added to the project`);
      setForm(empty);
      members.reload();
    } catch (err) {
      showError('Could not add the member', err);
    } finally {
      setSaving(false);
    }
  }

  return (
    <Stack>
      <Title order={2}>Project members</Title>
      <Text c="dimmed" size="sm">
        {project.data?.project?.name} · {projectId}
      </Text>
      <form onSubmit={add}>
        <Stack maw={720}>
          <Title order={4}>Add a member</Title>
          <SimpleGrid cols={2}>
            <InviteFields form={form} set={set} prefix="member" passwordHint="For a new user only" />
          </SimpleGrid>
          <Group>
            <Checkbox label="Project admin" name="memberAdmin" checked={form.admin} onChange={set('admin')} />
            <Button type="submit" loading={saving}>
              Add member
            </Button>
          </Group>
        </Stack>
      </form>
      {members.loading ? (
        <Loader />
      ) : (
        <Table striped data-testid="members">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Profile</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Clinics</Table.Th>
              <Table.Th>Access policy</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {pager.rows.map((m) => (
              <Table.Tr key={m.id}>
                <Table.Td>{m.profile?.display ?? m.profile?.reference}</Table.Td>
                <Table.Td>{m.admin ? <Badge>admin</Badge> : <Badge color="gray">member</Badge>}</Table.Td>
                <Table.Td>{clinicsOf(m).map((c) => clinicName.get(c) ?? c).join(', ')}</Table.Td>
                <Table.Td>{m.accessPolicy?.display ?? m.accessPolicy?.reference ?? (m.access?.length ? `${m.access.length} entries` : '')}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {pager.pages > 1 && <Pagination size="sm" total={pager.pages} value={pager.page} onChange={pager.setPage} />}
    </Stack>
  );
}

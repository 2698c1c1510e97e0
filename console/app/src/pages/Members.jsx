// Project members: the project (GET /admin/projects/:id) and every
// membership with its profile, role and clinics.
import { Badge, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { allClinics, clinicsOf, useLoad } from '../lib.js';

export default function Members() {
  const medplum = useMedplum();
  const projectId = medplum.getProject()?.id;
  const project = useLoad(() => medplum.get(`admin/projects/${projectId}`, { cache: 'no-cache' }), [projectId], 'the project');
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const members = useLoad(() => medplum.searchResources('ProjectMembership', { _count: 1000 }), [], 'members');
  const clinicName = new Map((clinics.data ?? []).map((c) => [`Organization/${c.id}`, c.name]));
  return (
    <Stack>
      <Title order={2}>Project members</Title>
      <Text c="dimmed" size="sm">
        {project.data?.project?.name} · {projectId}
      </Text>
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
            {(members.data ?? []).map((m) => (
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
    </Stack>
  );
}

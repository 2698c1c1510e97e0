// One clinic: edit its details; its clinicians (memberships with an access
// entry for it) and its patients (Patient?_compartment=Organization/<id>).
import { Anchor, Loader, Stack, Table, Title } from '@mantine/core';
import { normalizeOperationOutcome } from '@medplum/core';
import { ResourceForm, useMedplum } from '@medplum/react';
import { useState } from 'react';
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
  const [outcome, setOutcome] = useState();

  if (clinic.loading && !clinic.data) {
    return <Loader />;
  }
  if (!clinic.data) {
    return <Title order={3}>Clinic not found</Title>;
  }

  // Medplum's ResourceForm edits the Organization: its inputs come from
  // the R4 StructureDefinition ($graphql requestSchema) and coded fields
  // expand their ValueSets (ValueSet/$expand).
  async function save(resource) {
    setOutcome(undefined);
    try {
      const saved = await medplum.updateResource(resource);
      showSuccess(`Clinic ${saved.name} saved`);
      clinic.reload();
    } catch (err) {
      setOutcome(normalizeOperationOutcome(err));
      showError('Could not save the clinic', err);
    }
  }

  const ref = `Organization/${id}`;
  const staff = (clinicians.data ?? []).filter((c) => clinicsOf(c.membership).includes(ref));
  return (
    <Stack>
      <Title order={2}>{clinic.data?.name}</Title>
      <div data-testid="clinic-form">
        <ResourceForm key={clinic.data.meta?.versionId} defaultValue={clinic.data} outcome={outcome} onSubmit={save} />
      </div>
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

// One patient: demographics, clinic enrollment (admins: $set-accounts with
// propagate, so the records move too) and their records.
import { Button, Checkbox, Group, Loader, Stack, Tabs, Text, Title } from '@mantine/core';
import { formatDateTime } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { useParams } from 'react-router';
import { allClinics, humanName, setPatientClinics, showError, showSuccess, useLoad, usePagedSearch } from '../lib.js';
import { PagedTable } from './Paged.jsx';

const concept = (c) => c?.text ?? c?.coding?.[0]?.display ?? c?.coding?.[0]?.code ?? '';

const records = [
  ['Observation', 'Observations', [
    { title: 'Code', render: (r) => concept(r.code) },
    { title: 'Value', render: (r) => (r.valueQuantity ? `${r.valueQuantity.value} ${r.valueQuantity.unit ?? ''}` : r.valueString ?? concept(r.valueCodeableConcept)) },
    { title: 'Status', render: (r) => r.status },
    { title: 'When', render: (r) => formatDateTime(r.effectiveDateTime ?? r.meta?.lastUpdated) },
  ]],
  ['Encounter', 'Encounters', [
    { title: 'Class', render: (r) => r.class?.display ?? r.class?.code },
    { title: 'Status', render: (r) => r.status },
    { title: 'Start', render: (r) => formatDateTime(r.period?.start) },
  ]],
  ['DiagnosticReport', 'Reports', [
    { title: 'Code', render: (r) => concept(r.code) },
    { title: 'Status', render: (r) => r.status },
    { title: 'Issued', render: (r) => formatDateTime(r.issued ?? r.meta?.lastUpdated) },
  ]],
  ['Communication', 'Communications', [
    { title: 'Message', render: (r) => r.payload?.[0]?.contentString },
    { title: 'Status', render: (r) => r.status },
    { title: 'Sent', render: (r) => formatDateTime(r.sent ?? r.meta?.lastUpdated) },
  ]],
];

export default function PatientDetail({ admin }) {
  const { id } = useParams();
  const medplum = useMedplum();
  const patient = useLoad(() => medplum.readResource('Patient', id), [id], 'the patient');
  if (patient.loading && !patient.data) {
    return <Loader />;
  }
  if (!patient.data) {
    return <Title order={3}>Patient not found</Title>;
  }
  const p = patient.data;
  return (
    <Stack>
      <Title order={2}>{humanName(p)}</Title>
      <Text size="sm" c="dimmed">
        Born {p.birthDate ?? 'unknown'} · {p.gender ?? 'gender unknown'} · id {p.id}
      </Text>
      {admin && <Enrollment patient={p} onSaved={patient.reload} />}
      <Tabs defaultValue="Observation" keepMounted={false}>
        <Tabs.List>
          {records.map(([type, label]) => (
            <Tabs.Tab key={type} value={type}>
              {label}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {records.map(([type, , columns]) => (
          <Tabs.Panel key={type} value={type} pt="sm">
            <Records type={type} patientId={id} columns={columns} />
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}

function Records({ type, patientId, columns }) {
  const result = usePagedSearch(type, { subject: `Patient/${patientId}`, _sort: '-_lastUpdated' }, 10);
  return <PagedTable testId={`records-${type}`} result={result} columns={columns} />;
}

function Enrollment({ patient, onSaved }) {
  const medplum = useMedplum();
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const [selected, setSelected] = useState([]);
  const [saving, setSaving] = useState(false);
  useEffect(() => setSelected((patient.meta?.accounts ?? []).map((a) => a.reference)), [patient]);

  async function save() {
    setSaving(true);
    try {
      const out = await setPatientClinics(medplum, patient.id, selected);
      const n = out.parameter?.find((x) => x.name === 'resourcesUpdated')?.valueInteger;
      showSuccess(`Enrollment saved (${n ?? 'all'} resources updated)`);
      onSaved();
    } catch (err) {
      showError('Could not change the enrollment', err);
    } finally {
      setSaving(false);
    }
  }

  return (
    <Stack gap="xs">
      <Title order={4}>Clinics</Title>
      {clinics.loading ? (
        <Loader size="sm" />
      ) : (
        <Checkbox.Group value={selected} onChange={setSelected}>
          <Group>
            {(clinics.data ?? []).map((c) => (
              <Checkbox key={c.id} value={`Organization/${c.id}`} label={c.name} />
            ))}
          </Group>
        </Checkbox.Group>
      )}
      <Group>
        <Button onClick={save} loading={saving}>
          Save enrollment
        </Button>
      </Group>
    </Stack>
  );
}

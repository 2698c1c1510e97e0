// One patient: demographics (Medplum's ResourceTable), clinic enrollment
// (admins: $set-accounts with propagate, so the records move too), a quick
// vital-sign entry, their records in Medplum's SearchControl, their
// timeline (Medplum's, with comments and file uploads), and (admins) the
// access history: who read or changed the patient's data, and when.
import { Button, Group, Loader, NumberInput, Select, Stack, Tabs, Text, Title } from '@mantine/core';
import { Operator } from '@medplum/core';
import { ResourceTable, SearchControl, useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { humanName, setPatientClinics, showError, showSuccess, useLoad } from '../lib.js';
import { AuditTable } from './AuditTable.jsx';
import { ClinicEnrollment } from './Enrollment.jsx';
import { PatientTimeline } from './Timeline.jsx';

const records = [
  ['Observation', 'Observations', ['code', 'value[x]', 'status', 'effective[x]']],
  ['Encounter', 'Encounters', ['class', 'status', 'period']],
  ['DiagnosticReport', 'Reports', ['code', 'status', 'issued']],
  ['Communication', 'Communications', ['payload', 'status', 'sent']],
];

export default function PatientDetail({ admin }) {
  const { id } = useParams();
  const medplum = useMedplum();
  const patient = useLoad(() => medplum.readResource('Patient', id), [id], 'the patient');
  const [recorded, setRecorded] = useState(0);
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
        Born {p.birthDate ?? 'unknown'} · id {p.id}
      </Text>
      {admin && <Enrollment patient={p} onSaved={patient.reload} />}
      <Tabs defaultValue="Observation" keepMounted={false}>
        <Tabs.List>
          {records.map(([type, label]) => (
            <Tabs.Tab key={type} value={type}>
              {label}
            </Tabs.Tab>
          ))}
          <Tabs.Tab value="timeline">Timeline</Tabs.Tab>
          <Tabs.Tab value="details">Details</Tabs.Tab>
          {admin && <Tabs.Tab value="access">Access history</Tabs.Tab>}
        </Tabs.List>
        {records.map(([type, , fields]) => (
          <Tabs.Panel key={type} value={type} pt="sm">
            {type === 'Observation' && <VitalSign patientId={id} onSaved={() => setRecorded((n) => n + 1)} />}
            <Records key={`${type}-${recorded}`} type={type} patientId={id} fields={fields} />
          </Tabs.Panel>
        ))}
        <Tabs.Panel value="timeline" pt="sm">
          <PatientTimeline patient={p} />
        </Tabs.Panel>
        <Tabs.Panel value="details" pt="sm">
          <ResourceTable value={p} ignoreMissingValues />
        </Tabs.Panel>
        {admin && (
          <Tabs.Panel value="access" pt="sm">
            <AuditTable testId="access-history" query={{ entity: `Patient/${id}` }} withPatients={false} />
          </Tabs.Panel>
        )}
      </Tabs>
    </Stack>
  );
}

// Records lists one type of the patient's records with Medplum's
// SearchControl (its own paging; columns rendered from the schema).
function Records({ type, patientId, fields }) {
  const navigate = useNavigate();
  const [search, setSearch] = useState({
    resourceType: type,
    filters: [{ code: 'subject', operator: Operator.EQUALS, value: `Patient/${patientId}` }],
    fields,
    count: 10,
    sortRules: [{ code: '_lastUpdated', descending: true }],
  });
  return (
    <div data-testid={`records-${type}`}>
      <SearchControl search={search} onChange={(e) => setSearch(e.definition)} hideFilters onClick={() => navigate(`/patients/${patientId}`)} />
    </div>
  );
}

const VITALS = [
  { value: '8867-4', label: 'Heart rate', unit: '/min' },
  { value: '8310-5', label: 'Body temperature', unit: 'Cel' },
  { value: '9279-1', label: 'Respiratory rate', unit: '/min' },
  { value: '29463-7', label: 'Body weight', unit: 'kg' },
];

// VitalSign records one vital sign (an Observation of the patient; the
// server stamps it with the patient's clinics).
function VitalSign({ patientId, onSaved }) {
  const medplum = useMedplum();
  const [code, setCode] = useState('8867-4');
  const [value, setValue] = useState('');
  const [saving, setSaving] = useState(false);
  const vital = VITALS.find((v) => v.value === code);

  async function save(e) {
    e.preventDefault();
    setSaving(true);
    try {
      await medplum.createResource({
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: vital.value, display: vital.label }], text: vital.label },
        subject: { reference: `Patient/${patientId}` },
        effectiveDateTime: new Date().toISOString(),
        valueQuantity: { value: Number(value), unit: vital.unit, system: 'http://unitsofmeasure.org', code: vital.unit },
      });
      showSuccess(`${vital.label} recorded`);
      setValue('');
      onSaved();
    } catch (err) {
      showError('Could not record the observation', err);
    } finally {
      setSaving(false);
    }
  }

  return (
    <form onSubmit={save}>
      <Group align="end" mb="sm">
        <Select label="Vital sign" data={VITALS} value={code} onChange={(v) => setCode(v ?? '8867-4')} allowDeselect={false} w={200} />
        <NumberInput label={`Value (${vital.unit})`} name="vitalValue" value={value} onChange={setValue} required w={140} />
        <Button type="submit" loading={saving}>
          Record
        </Button>
      </Group>
    </form>
  );
}

function Enrollment({ patient, onSaved }) {
  const medplum = useMedplum();
  const [selected, setSelected] = useState([]);
  useEffect(() => setSelected((patient.meta?.accounts ?? []).map((a) => a.reference)), [patient]);

  async function save() {
    try {
      const out = await setPatientClinics(medplum, patient.id, selected);
      const n = out.parameter?.find((x) => x.name === 'resourcesUpdated')?.valueInteger;
      showSuccess(`Enrollment saved (${n ?? 'all'} resources updated)`);
      onSaved();
    } catch (err) {
      showError('Could not change the enrollment', err);
    }
  }

  return (
    <Stack gap="xs">
      <ClinicEnrollment value={selected} onChange={setSelected} onSave={save} inline />
    </Stack>
  );
}

// Audit: the project's audit trail (AuditEvent), newest first, filtered
// by patient, user, date range and outcome. The filters live in the
// address (?patient=…&agent=…&from=…&to=…&outcome=…), so a filtered view
// can be linked and reloaded. What anyone sees is the server's decision:
// a project admin sees the project's trail, nobody another project's.
import { Button, Group, Select, Stack, Text, TextInput, Title } from '@mantine/core';
import { ResourceInput, useMedplum } from '@medplum/react';
import { useSearchParams } from 'react-router';
import { humanName, loadClinicians, useLoad } from '../lib.js';
import { AuditTable, OUTCOMES } from './AuditTable.jsx';

// localDay is the instant of a time of a day in the browser's time zone:
// "From" and "To" are the user's days, not UTC's.
function localDay(day, time) {
  const t = new Date(`${day}T${time}`);
  return Number.isNaN(t.getTime()) ? day : t.toISOString();
}

export default function Audit() {
  const medplum = useMedplum();
  const [params, setParams] = useSearchParams();
  const members = useLoad(() => loadClinicians(medplum), [], 'project members');
  const patient = params.get('patient') ?? '';
  const agent = params.get('agent') ?? '';
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  const outcome = params.get('outcome') ?? '';

  const set = (name, value) =>
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        if (value) {
          next.set(name, value);
        } else {
          next.delete(name);
        }
        return next;
      },
      { replace: true },
    );

  const query = {
    entity: patient ? `Patient/${patient}` : undefined,
    agent: agent || undefined,
    date: [from && `ge${localDay(from, '00:00:00.000')}`, to && `le${localDay(to, '23:59:59.999')}`].filter(Boolean),
    outcome: outcome || undefined,
  };
  const people = (members.data ?? [])
    .filter((m) => m.membership.profile?.reference)
    .map((m) => ({ value: m.membership.profile.reference, label: m.practitioner ? humanName(m.practitioner) : m.membership.profile.reference }));

  return (
    <Stack>
      <Title order={2}>Audit</Title>
      <Text size="sm" c="dimmed">
        Every access to the project&apos;s data, allowed or refused, as the server recorded it. Refused attempts are shown in red.
      </Text>
      <Group align="end" data-testid="audit-filters">
        <div style={{ width: 260 }}>
          <Text size="sm" fw={500} mb={2}>
            Patient
          </Text>
          <ResourceInput
            key={patient ? 'patient-set' : 'patient-empty'}
            resourceType="Patient"
            name="auditPatient"
            placeholder="Any patient"
            defaultValue={patient ? { reference: `Patient/${patient}` } : undefined}
            onChange={(p) => set('patient', p?.id)}
          />
        </div>
        <Select label="User" placeholder="Anyone" data={people} value={agent || null} onChange={(v) => set('agent', v)} clearable searchable w={220} />
        <TextInput label="From" name="auditFrom" type="date" value={from} onChange={(e) => set('from', e.currentTarget.value)} w={160} />
        <TextInput label="To" name="auditTo" type="date" value={to} onChange={(e) => set('to', e.currentTarget.value)} w={160} />
        <Select label="Outcome" placeholder="Any" data={OUTCOMES} value={outcome || null} onChange={(v) => set('outcome', v)} clearable w={160} />
        <Button variant="default" onClick={() => setParams({}, { replace: true })} disabled={!params.toString()}>
          Clear filters
        </Button>
      </Group>
      <AuditTable testId="audit" query={query} />
    </Stack>
  );
}

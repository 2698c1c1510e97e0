// The audit trail as a table: one AuditEvent a row (shaped as IHE BALP:
// subtype the FHIR interaction, agent.requestor the caller, entity the
// resource, the patients (role 1) and the query), newest first, 50 a page.
// A refused or failed access (outcome other than 0) stands out in red.
import { Badge, Stack, Text, Tooltip } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { humanName, usePagedSearch } from '../lib.js';
import { PagedTable } from './Paged.jsx';

const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const ACTIONS = { C: 'create', R: 'read', U: 'update', D: 'delete', E: 'execute' };
export const OUTCOMES = [
  { value: '0', label: 'Success', color: 'green' },
  { value: '4', label: 'Refused', color: 'red' },
  { value: '8', label: 'Failed', color: 'orange' },
  { value: '12', label: 'Major failure', color: 'grape' },
];

// requestor is the agent who asked (BALP marks it requestor), else the first.
export function requestor(event) {
  return (event.agent ?? []).find((a) => a.requestor) ?? event.agent?.[0];
}

function isPatientEntity(e) {
  return (
    e.role?.code === '1' && (e.role.system ?? OBJECT_ROLE) === OBJECT_ROLE
  ) || (!e.role && e.what?.reference?.startsWith('Patient/'));
}

// unversioned drops the /_history/… of a versioned reference.
const unversioned = (ref) => ref?.replace(/\/_history\/.*$/, '');

// patientsOf lists the references of the patients an event concerned: the
// entities in the patient role, and a Patient the access was about (a
// refused read of a patient names no compartment, but it concerned them).
export function patientsOf(event) {
  const refs = (event.entity ?? [])
    .filter((e) => isPatientEntity(e) || e.what?.reference?.startsWith('Patient/'))
    .map((e) => unversioned(e.what?.reference))
    .filter(Boolean);
  return [...new Set(refs)];
}

export const refused = (event) => (event.outcome ?? '0') !== '0';

// decodeQuery reads entity.query (base64Binary, as BALP carries a search's
// query string); anything that is not base64 is shown as is.
function decodeQuery(q) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(q), (c) => c.charCodeAt(0)));
  } catch {
    return q;
  }
}

// interaction names what was done: the restful interaction, the operation
// ($everything; BALP codes "operation" first) or the identity event.
function interaction(event) {
  const sub = (event.subtype ?? []).find((c) => c.code && c.code !== 'operation') ?? event.subtype?.[0];
  const name = sub?.code ?? sub?.display ?? event.type?.display ?? event.type?.code ?? '';
  const action = ACTIONS[event.action];
  return action && action !== name ? `${name} (${action})` : name;
}

function what(event) {
  const parts = [];
  for (const e of event.entity ?? []) {
    if (isPatientEntity(e)) {
      continue; // shown in the Patients column
    }
    if (e.what?.reference || e.what?.display) {
      parts.push(unversioned(e.what.reference) ?? e.what.display);
    }
    if (e.query !== undefined) {
      const results = e.detail?.find((d) => d.type === 'results')?.valueString;
      parts.push(`?${decodeQuery(e.query).replace(/^\?/, '')}${results !== undefined ? ` (${results} found)` : ''}`);
    }
  }
  return parts.join(' ');
}

// useNames resolves the Patient and Practitioner references the rows show
// without a display (one search per type, the project's own resources).
function useNames(events) {
  const medplum = useMedplum();
  const [names, setNames] = useState(new Map());
  const refs = new Set();
  for (const ev of events) {
    const who = requestor(ev)?.who;
    if (who?.reference && !who.display) {
      refs.add(who.reference);
    }
    patientsOf(ev).forEach((r) => refs.add(r));
  }
  const key = [...refs].sort().join(',');
  useEffect(() => {
    let live = true;
    const byType = {};
    for (const ref of key ? key.split(',') : []) {
      const [type, id] = ref.split('/');
      if (['Patient', 'Practitioner'].includes(type) && id) {
        (byType[type] ??= []).push(id);
      }
    }
    Promise.all(
      Object.entries(byType).map(([type, ids]) =>
        medplum.searchResources(type, { _id: ids.join(','), _count: ids.length }).catch(() => []),
      ),
    ).then((lists) => {
      if (live) {
        setNames(new Map(lists.flat().map((r) => [`${r.resourceType}/${r.id}`, humanName(r)])));
      }
    });
    return () => {
      live = false;
    };
  }, [medplum, key]);
  return names;
}

function OutcomeBadge({ event }) {
  const o = OUTCOMES.find((x) => x.value === (event.outcome ?? '0')) ?? { label: `Outcome ${event.outcome}`, color: 'gray' };
  const badge = (
    <Badge color={o.color} variant={refused(event) ? 'filled' : 'light'} style={{ minWidth: 'max-content' }}>
      {o.label}
    </Badge>
  );
  return event.outcomeDesc ? (
    <Stack gap={2}>
      {badge}
      <Text size="xs" c="dimmed">
        {event.outcomeDesc}
      </Text>
    </Stack>
  ) : badge;
}

const when = (ev) => {
  const t = ev.recorded ?? ev.period?.end ?? ev.meta?.lastUpdated;
  return t ? (
    <Tooltip label={t}>
      <span>{new Date(t).toLocaleString()}</span>
    </Tooltip>
  ) : '';
};

// AuditTable shows the AuditEvents matching query (newest first).
// withPatients adds the Patients column (the Audit page; a patient's own
// access history does not need it).
export function AuditTable({ query, testId, withPatients = true }) {
  const result = usePagedSearch('AuditEvent', { ...query, _sort: '-date' }, 50);
  const names = useNames(result.resources);
  const name = (ref) => names.get(ref) ?? ref;
  const columns = [
    { title: 'When', render: when },
    {
      title: 'Who',
      render: (ev) => {
        const who = requestor(ev)?.who;
        return who?.display ?? (who?.reference ? name(who.reference) : who?.identifier?.value ?? '');
      },
    },
    { title: 'Action', render: interaction },
    { title: 'What', render: what },
    ...(withPatients ? [{ title: 'Patients', render: (ev) => patientsOf(ev).map(name).join(', ') }] : []),
    { title: 'Outcome', render: (ev) => <OutcomeBadge event={ev} /> },
    { title: 'Address', render: (ev) => requestor(ev)?.network?.address ?? '' },
  ];
  return (
    <PagedTable
      testId={testId}
      result={result}
      columns={columns}
      rowProps={(ev) => ({
        'data-outcome': ev.outcome ?? '0',
        style: refused(ev) ? { background: 'var(--mantine-color-red-light)' } : undefined,
      })}
    />
  );
}

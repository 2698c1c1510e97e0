// Shared helpers of the console pages: notifications that show the
// server's OperationOutcome text, the MSO policy template, clinic access
// entries, paged searches.
import { notifications } from '@mantine/notifications';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';

// showError shows what the server refused, in its own words (the
// OperationOutcome's text for 400, 403, 404, 409 ...).
export function showError(title, err) {
  notifications.show({ color: 'red', title, message: normalizeErrorString(err), autoClose: 10000 });
}

export function showSuccess(message) {
  notifications.show({ color: 'green', title: 'Done', message, autoClose: 4000 });
}

// The name the Medplum MSO demo gives its policy; the console finds the
// policy by it.
export const POLICY_NAME = 'Managed Service Organization Access Policy';

// The clinical types a clinic's clinicians see, each limited to the
// clinic's compartment. Media carries the files a patient's timeline shows.
export const CLINICAL_TYPES = ['Patient', 'Observation', 'DiagnosticReport', 'Encounter', 'Communication', 'Media'];

// msoPolicyTemplate is the Medplum MSO guide's policy: resources created
// by a clinician are stamped with their clinic (%organization), the
// directory (Organization, Practitioner, PractitionerRole) is read-only,
// clinical data is limited to the clinic's compartment. ValueSet and
// CodeSystem are read-only too: without them a clinician's coded form
// inputs cannot expand their bindings (like Medplum, Ward makes only
// StructureDefinition and SearchParameter readable without a rule).
// Binary (a timeline's uploaded files) takes no criteria: it has no search
// parameters, and the server lets a caller read one only when they can
// read the resource its securityContext names (the patient).
export function msoPolicyTemplate() {
  return {
    resourceType: 'AccessPolicy',
    name: POLICY_NAME,
    compartment: { reference: '%organization' },
    resource: [
      { resourceType: 'Organization', readonly: true },
      { resourceType: 'Practitioner', readonly: true },
      { resourceType: 'PractitionerRole', readonly: true },
      { resourceType: 'ValueSet', readonly: true },
      { resourceType: 'CodeSystem', readonly: true },
      ...CLINICAL_TYPES.map((t) => ({ resourceType: t, criteria: `${t}?_compartment=%organization` })),
      { resourceType: 'Binary' },
    ],
  };
}

// findPolicy returns the project's MSO policy, or undefined.
export async function findPolicy(medplum) {
  return medplum.searchOne('AccessPolicy', { name: POLICY_NAME });
}

// clinicAccess is one membership.access entry: the policy with the clinic
// as its organization parameter.
export function clinicAccess(policyRef, clinicRef) {
  return {
    policy: { reference: policyRef },
    parameter: [{ name: 'organization', valueReference: { reference: clinicRef } }],
  };
}

// clinicsOf lists the clinic references of a membership's access entries.
export function clinicsOf(membership) {
  return (membership?.access ?? [])
    .map((a) => a.parameter?.find((p) => p.name === 'organization')?.valueReference?.reference)
    .filter(Boolean);
}

export function humanName(resource) {
  const n = resource?.name?.[0];
  if (!n) {
    return '(no name)';
  }
  if (n.text) {
    return n.text;
  }
  return [...(n.given ?? []), n.family].filter(Boolean).join(' ') || '(no name)';
}

export const refOf = (r) => `${r.resourceType}/${r.id}`;

// usePagedSearch runs a FHIR search page by page (_count, _offset and an
// exact _total for the pager). reload() runs it again after a change.
export function usePagedSearch(resourceType, query, pageSize = 20) {
  const medplum = useMedplum();
  const [page, setPage] = useState(1);
  const [state, setState] = useState({ loading: true, resources: [], included: [], total: 0, error: undefined });
  const [version, setVersion] = useState(0);
  const key = JSON.stringify(query);
  useEffect(() => setPage(1), [key]);
  useEffect(() => {
    if (query === undefined) {
      return undefined;
    }
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    medplum
      .search(resourceType, searchParams({ ...query, _count: pageSize, _offset: (page - 1) * pageSize, _total: 'accurate' }))
      .then((bundle) => {
        if (live) {
          const all = (bundle.entry ?? []).map((e) => e.resource).filter(Boolean);
          const resources = all.filter((r) => r.resourceType === resourceType);
          const included = all.filter((r) => r.resourceType !== resourceType);
          setState({ loading: false, resources, included, total: bundle.total ?? resources.length, error: undefined });
        }
      })
      .catch((err) => {
        if (live) {
          setState({ loading: false, resources: [], included: [], total: 0, error: err });
          showError(`Could not load ${resourceType}`, err);
        }
      });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [medplum, resourceType, key, page, pageSize, version]);
  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { ...state, page, setPage, pages: Math.max(1, Math.ceil(state.total / pageSize)), reload };
}

// searchParams turns a query object into URLSearchParams; an array value
// repeats its parameter (date=ge…&date=le…), an empty value is left out.
export function searchParams(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== '') {
        params.append(name, String(v));
      }
    }
  }
  return params;
}

// useLoad runs an async loader and keeps its result, loading flag and a
// reload function; a failure is shown once.
export function useLoad(loader, deps, what) {
  const [state, setState] = useState({ loading: true, data: undefined });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    loader()
      .then((data) => live && setState({ loading: false, data }))
      .catch((err) => {
        if (live) {
          setState({ loading: false, data: undefined, error: err });
          showError(`Could not load ${what}`, err);
        }
      });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, version]);
  return { ...state, reload: () => setVersion((v) => v + 1) };
}

// allClinics lists every Organization of the project (clinics are few;
// one page of up to 1000).
export async function allClinics(medplum) {
  return medplum.searchResources('Organization', { _count: 1000, _sort: 'name' });
}

// loadClinicians returns the project's Practitioner memberships with their
// profiles: [{ membership, practitioner }] (the admin reads both).
export async function loadClinicians(medplum) {
  const memberships = (await medplum.searchResources('ProjectMembership', { _count: 1000 })).filter((m) =>
    m.profile?.reference?.startsWith('Practitioner/'),
  );
  const ids = memberships.map((m) => m.profile.reference.split('/')[1]);
  const practitioners = ids.length ? await medplum.searchResources('Practitioner', { _id: ids.join(','), _count: 1000 }) : [];
  const byRef = new Map(practitioners.map((p) => [refOf(p), p]));
  return memberships.map((membership) => ({ membership, practitioner: byRef.get(membership.profile.reference) }));
}

// EMPTY_INVITE is the blank form of InviteFields.
export const EMPTY_INVITE = { firstName: '', lastName: '', email: '', password: '' };

// inviteMember adds a person to the project (POST
// admin/projects/:id/invite) from InviteFields' form; membership holds
// the page's own terms (admin, access ...). Ward sends no email; a user
// Ward already knows keeps their password.
export async function inviteMember(medplum, projectId, form, extra) {
  return medplum.post(`admin/projects/${projectId}/invite`, {
    resourceType: 'Practitioner',
    firstName: form.firstName.trim(),
    lastName: form.lastName.trim(),
    email: form.email.trim(),
    password: form.password || undefined,
    sendEmail: false,
    ...extra,
  });
}

// Specialties offered for PractitionerRole.specialty (SNOMED CT practice
// settings, a small subset).
export const SPECIALTIES = [
  { value: '394814009', label: 'General practice' },
  { value: '394579002', label: 'Cardiology' },
  { value: '394537008', label: 'Pediatrics' },
  { value: '394585009', label: 'Obstetrics and gynecology' },
  { value: '394582007', label: 'Dermatology' },
  { value: '394591006', label: 'Neurology' },
];
export const SNOMED = 'http://snomed.info/sct';

// practitionerRole is the directory entry of a clinician in a clinic.
export function practitionerRole(practitionerRef, clinicRef, specialty) {
  const s = SPECIALTIES.find((x) => x.value === specialty);
  return {
    resourceType: 'PractitionerRole',
    active: true,
    practitioner: { reference: practitionerRef },
    organization: { reference: clinicRef },
    specialty: s ? [{ coding: [{ system: SNOMED, code: s.value, display: s.label }], text: s.label }] : undefined,
  };
}

// setPatientClinics enrolls a patient in exactly the given clinics, the
// patient's records moving with it (Patient/$set-accounts, propagate).
export async function setPatientClinics(medplum, patientId, clinicRefs) {
  return medplum.post(medplum.fhirUrl('Patient', patientId, '$set-accounts'), {
    resourceType: 'Parameters',
    parameter: [
      ...clinicRefs.map((reference) => ({ name: 'accounts', valueReference: { reference } })),
      { name: 'propagate', valueBoolean: true },
    ],
  });
}

// useClientPage pages a list already loaded in full (memberships: the
// admin API has no paging), 20 rows at a time.
export function useClientPage(list, size = 20) {
  const [page, setPage] = useState(1);
  const pages = Math.max(1, Math.ceil((list?.length ?? 0) / size));
  const current = Math.min(page, pages);
  return { rows: (list ?? []).slice((current - 1) * size, current * size), page: current, pages, setPage };
}

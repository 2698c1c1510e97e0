// One clinician: enroll in and unenroll from clinics by editing the
// membership's access[] through the admin members API
// (POST /admin/projects/:projectId/members/:membershipId), keeping the
// directory's PractitionerRoles in step.
import { Loader, Stack, Text, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { useParams } from 'react-router';
import { clinicAccess, clinicsOf, findPolicy, humanName, practitionerRole, showError, showSuccess, useLoad } from '../lib.js';
import { ClinicEnrollment } from './Enrollment.jsx';

export default function ClinicianDetail() {
  const { id } = useParams();
  const medplum = useMedplum();
  const projectId = medplum.getProject()?.id;
  const url = `admin/projects/${projectId}/members/${id}`;
  const member = useLoad(
    async () => {
      const membership = await medplum.get(url, { cache: 'no-cache' });
      const practitioner = await medplum.readReference(membership.profile);
      return { membership, practitioner };
    },
    [id],
    'the clinician',
  );
  const [selected, setSelected] = useState([]);
  useEffect(() => setSelected(clinicsOf(member.data?.membership)), [member.data]);

  if (member.loading && !member.data) {
    return <Loader />;
  }
  if (!member.data) {
    return <Title order={3}>Clinician not found</Title>;
  }
  const { membership, practitioner } = member.data;

  async function save() {
    try {
      const policy = await findPolicy(medplum);
      if (!policy) {
        throw new Error('Create the MSO access policy first (Access policy page).');
      }
      const before = clinicsOf(membership);
      // Entries of other clinics stay as they are; new clinics get the policy.
      const kept = (membership.access ?? []).filter((a) => selected.includes(clinicsOf({ access: [a] })[0]));
      const added = selected.filter((c) => !before.includes(c)).map((c) => clinicAccess(`AccessPolicy/${policy.id}`, c));
      // FHIR has no empty arrays: a clinician in no clinic has no access[].
      const { access: _old, ...rest } = membership;
      const access = [...kept, ...added];
      await medplum.post(url, access.length ? { ...rest, access } : rest);
      await syncRoles(medplum, membership.profile.reference, before, selected);
      showSuccess(`${humanName(practitioner)}: clinics saved`);
      member.reload();
    } catch (err) {
      showError('Could not change the enrollment', err);
    }
  }

  return (
    <Stack>
      <Title order={2}>{humanName(practitioner)}</Title>
      <Text size="sm" c="dimmed">
        Membership {membership.id}
        {membership.admin ? ' · project admin' : ''}
      </Text>
      <ClinicEnrollment value={selected} onChange={setSelected} onSave={save} />
    </Stack>
  );
}

// syncRoles creates a PractitionerRole for each new clinic and removes the
// roles of clinics left, so the directory matches the enrollment.
async function syncRoles(medplum, practitionerRef, before, after) {
  const roles = await medplum.searchResources('PractitionerRole', { practitioner: practitionerRef, _count: 100 });
  for (const c of after.filter((x) => !before.includes(x))) {
    if (!roles.some((r) => r.organization?.reference === c)) {
      // The clinician keeps their specialty in the new clinic.
      await medplum.createResource({ ...practitionerRole(practitionerRef, c), specialty: roles[0]?.specialty });
    }
  }
  for (const r of roles.filter((x) => before.includes(x.organization?.reference) && !after.includes(x.organization?.reference))) {
    await medplum.deleteResource('PractitionerRole', r.id);
  }
}

// The clinics a person is enrolled in, as checkboxes, and the button that
// saves them. Clinicians (their membership's access[]) and patients
// ($set-accounts) are enrolled alike; what saving means is the page's.
import { Button, Checkbox, Group, Loader, Stack, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { allClinics, useLoad } from '../lib.js';

// ClinicEnrollment shows every clinic of the project, checked when in
// value. onSave runs on "Save enrollment", the button spinning until it
// settles; it reports its own errors. inline lays the clinics out in a row.
export function ClinicEnrollment({ value, onChange, onSave, inline }) {
  const medplum = useMedplum();
  const clinics = useLoad(() => allClinics(medplum), [], 'clinics');
  const [saving, setSaving] = useState(false);
  const [Layout, gap] = inline ? [Group, undefined] : [Stack, 'xs'];

  async function save() {
    setSaving(true);
    try {
      await onSave();
    } finally {
      setSaving(false);
    }
  }

  return (
    <>
      <Title order={4}>Clinics</Title>
      {clinics.loading ? (
        <Loader size="sm" />
      ) : (
        <Checkbox.Group value={value} onChange={onChange}>
          <Layout gap={gap}>
            {(clinics.data ?? []).map((c) => (
              <Checkbox key={c.id} value={`Organization/${c.id}`} label={c.name} />
            ))}
          </Layout>
        </Checkbox.Group>
      )}
      <Group>
        <Button onClick={save} loading={saving}>
          Save enrollment
        </Button>
      </Group>
    </>
  );
}

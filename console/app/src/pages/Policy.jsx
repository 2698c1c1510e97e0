// The MSO access policy: create it from the Medplum MSO guide's template,
// view its rules, edit it as JSON. Saving is the validation: Ward checks an
// AccessPolicy on write and its OperationOutcome is shown as is.
import { Alert, Badge, Button, Group, JsonInput, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { findPolicy, msoPolicyTemplate, POLICY_NAME, showError, showSuccess, useLoad } from '../lib.js';

export default function Policy() {
  const medplum = useMedplum();
  const policy = useLoad(() => findPolicy(medplum), [], 'the access policy');
  const [text, setText] = useState('');
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState();
  useEffect(() => {
    if (policy.data) {
      setText(JSON.stringify(policy.data, null, 2));
    }
  }, [policy.data]);

  async function save(resource) {
    setSaving(true);
    setProblem(undefined);
    try {
      const saved = resource.id ? await medplum.updateResource(resource) : await medplum.createResource(resource);
      showSuccess(`${saved.name ?? 'Access policy'} saved (version ${saved.meta?.versionId ?? '?'})`);
      policy.reload();
    } catch (err) {
      setProblem(err);
      showError('The server refused the policy', err);
    } finally {
      setSaving(false);
    }
  }

  function saveText() {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      setProblem(err);
      showError('Not valid JSON', err);
      return;
    }
    save(parsed);
  }

  if (policy.loading && !policy.data) {
    return <Loader />;
  }
  return (
    <Stack>
      <Title order={2}>Access policy</Title>
      <Text size="sm" c="dimmed">
        Clinicians get the “{POLICY_NAME}” once per clinic, with the clinic as %organization: they see the clinic's patients and records and
        read the provider directory.
      </Text>
      {!policy.data && (
        <Group>
          <Text>The project has no MSO policy yet.</Text>
          <Button onClick={() => save(msoPolicyTemplate())} loading={saving}>
            Create from template
          </Button>
        </Group>
      )}
      {policy.data && (
        <>
          <Table data-testid="policy-rules" maw={720}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Resource type</Table.Th>
                <Table.Th>Access</Table.Th>
                <Table.Th>Criteria</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(policy.data.resource ?? []).map((r, i) => (
                <Table.Tr key={i}>
                  <Table.Td>{r.resourceType}</Table.Td>
                  <Table.Td>{r.readonly ? <Badge color="gray">read-only</Badge> : <Badge>read/write</Badge>}</Table.Td>
                  <Table.Td>
                    <code>{r.criteria}</code>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          <JsonInput label="Edit as JSON" value={text} onChange={setText} autosize minRows={12} maxRows={30} formatOnBlur validationError="Invalid JSON" name="policyJson" />
          {problem && (
            <Alert color="red" title="Not saved">
              {String(problem.message ?? problem)}
            </Alert>
          )}
          <Group>
            <Button onClick={saveText} loading={saving}>
              Validate and save
            </Button>
            <Button variant="default" onClick={() => setText(JSON.stringify({ ...msoPolicyTemplate(), id: policy.data.id }, null, 2))}>
              Reset to template
            </Button>
          </Group>
        </>
      )}
    </Stack>
  );
}

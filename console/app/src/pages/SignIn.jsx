// Sign-in with Medplum's own SignInForm: /auth/method, /auth/login, the
// membership chooser when the user has several, the PKCE code exchange.
// ?project=<id> signs in a project-scoped user (an invited clinician).
import { Center, Stack, Text, Title } from '@mantine/core';
import { SignInForm } from '@medplum/react';
import { useNavigate, useSearchParams } from 'react-router';

export function SignInPage() {
  const navigate = useNavigate();
  const [params] = useSearchParams();
  // The chooser's "Create a new project" link comes back with project=new:
  // the console does not register projects, so that is a plain sign-in.
  const project = params.get('project');
  const projectId = project && project !== 'new' ? project : undefined;
  return (
    <Center mih="100vh">
      <Stack w={420}>
        <SignInForm projectId={projectId} onSuccess={() => navigate('/')}>
          <Stack align="center" gap={4}>
            <Title order={2}>Ward console</Title>
            <Text c="dimmed" size="sm">
              Sign in to manage clinics, clinicians and patients
            </Text>
          </Stack>
        </SignInForm>
      </Stack>
    </Center>
  );
}

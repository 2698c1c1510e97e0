// Layout, the sign-in gate and the routes. Admin pages are only linked
// and routed for project admins (from /auth/me); the server's access
// policy decides what anyone actually sees.
import { AppShell, Burger, Button, Center, Group, Loader, NavLink, Text, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMedplum, useMedplumProfile } from '@medplum/react';
import { lazy, Suspense } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { SignInPage } from './pages/SignIn.jsx';
import { humanName } from './lib.js';
// The two landing pages (admins land on clinics, clinicians on patients)
// come with the main bundle: a lazy chunk would cost a round trip after
// /auth/me. The others load on first use.
import Clinics from './pages/Clinics.jsx';
import Patients from './pages/Patients.jsx';

const ClinicDetail = lazy(() => import('./pages/ClinicDetail.jsx'));
const Clinicians = lazy(() => import('./pages/Clinicians.jsx'));
const ClinicianDetail = lazy(() => import('./pages/ClinicianDetail.jsx'));
const PatientDetail = lazy(() => import('./pages/PatientDetail.jsx'));
const Policy = lazy(() => import('./pages/Policy.jsx'));
const Directory = lazy(() => import('./pages/Directory.jsx'));
const Members = lazy(() => import('./pages/Members.jsx'));
const Audit = lazy(() => import('./pages/Audit.jsx'));

const adminLinks = [
  ['/clinics', 'Clinics'],
  ['/clinicians', 'Clinicians'],
  ['/patients', 'Patients'],
  ['/policy', 'Access policy'],
  ['/directory', 'Provider directory'],
  ['/members', 'Project members'],
  ['/audit', 'Audit'],
];
const clinicianLinks = [
  ['/patients', 'Patients'],
  ['/directory', 'Provider directory'],
];

const loading = (
  <Center h={200}>
    <Loader aria-label="Loading" />
  </Center>
);

export function App() {
  const medplum = useMedplum();
  const profile = useMedplumProfile();
  const location = useLocation();
  const [opened, { toggle }] = useDisclosure();

  if (medplum.isLoading()) {
    return loading;
  }
  if (!profile) {
    return (
      <Routes>
        <Route path="/signin" element={<SignInPage />} />
        <Route path="*" element={<Navigate to={`/signin${location.search}`} replace />} />
      </Routes>
    );
  }
  const admin = medplum.isProjectAdmin() || medplum.isSuperAdmin();
  const links = admin ? adminLinks : clinicianLinks;
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group>
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" />
            <Title order={4}>Ward console</Title>
            <Text c="dimmed" size="sm">
              {medplum.getProject()?.name}
            </Text>
          </Group>
          <Group>
            <Text size="sm" data-testid="whoami">
              {humanName(profile)} {admin ? '(admin)' : ''}
            </Text>
            <Button
              variant="subtle"
              size="xs"
              onClick={async () => {
                await medplum.signOut();
                window.location.assign('/signin');
              }}
            >
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav">
        {links.map(([to, label]) => (
          <NavLink key={to} component={Link} to={to} label={label} active={location.pathname.startsWith(to)} />
        ))}
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={loading}>
          <Routes>
            <Route path="/" element={<Navigate to={admin ? '/clinics' : '/patients'} replace />} />
            <Route path="/signin" element={<Navigate to="/" replace />} />
            <Route path="/patients" element={<Patients admin={admin} />} />
            <Route path="/patients/:id" element={<PatientDetail admin={admin} />} />
            <Route path="/directory" element={<Directory />} />
            {admin && (
              <>
                <Route path="/clinics" element={<Clinics />} />
                <Route path="/clinics/:id" element={<ClinicDetail />} />
                <Route path="/clinicians" element={<Clinicians />} />
                <Route path="/clinicians/:id" element={<ClinicianDetail />} />
                <Route path="/policy" element={<Policy />} />
                <Route path="/members" element={<Members />} />
                <Route path="/audit" element={<Audit />} />
              </>
            )}
            <Route path="*" element={<Text>Page not found.</Text>} />
          </Routes>
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

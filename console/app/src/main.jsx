// The console's entry: one MedplumClient over the same origin (Ward serves
// both the app and the API), Medplum's and Mantine's providers, the router.
import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import '@medplum/react/styles.css';

import { MantineProvider } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { MedplumClient } from '@medplum/core';
import { MedplumProvider } from '@medplum/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, useNavigate } from 'react-router';
import { App } from './App.jsx';

const medplum = new MedplumClient({
  baseUrl: window.location.origin + '/',
  // Every list must show what the server says right after a change
  // (enrollment moves records between clinics): no client-side GET cache.
  cacheTime: 0,
  onUnauthenticated: () => {
    if (window.location.pathname !== '/signin') {
      window.location.assign('/signin');
    }
  },
});

function Root() {
  const navigate = useNavigate();
  return (
    <MedplumProvider medplum={medplum} navigate={navigate}>
      <App />
    </MedplumProvider>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <MantineProvider>
      <Notifications position="top-right" />
      <BrowserRouter>
        <Root />
      </BrowserRouter>
    </MantineProvider>
  </StrictMode>,
);

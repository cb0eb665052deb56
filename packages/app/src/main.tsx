import { MantineProvider } from '@mantine/core';
import '@mantine/core/styles.css';
import { Notifications } from '@mantine/notifications';
import '@mantine/notifications/styles.css';
import { MedplumClient } from '@medplum/core';
import { MedplumProvider } from '@medplum/react';
import '@medplum/react/styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { routes } from './routes';

/**
 * Built, the app is served by the Tiba server itself: the API is the page's origin. Under
 * `vite dev` it calls `npm start`'s server (which must list the dev origin in CORS_ORIGINS).
 */
const DEFAULT_BASE_URL = import.meta.env.DEV ? 'http://localhost:8103/' : `${window.location.origin}/`;

// A session that ends (refresh refused) clears the profile; SignedInLayout then sends the user to /signin.
const medplum = new MedplumClient({ baseUrl: import.meta.env.VITE_TIBA_BASE_URL || DEFAULT_BASE_URL });

const router = createBrowserRouter(routes);

const root = document.getElementById('root');
if (!root) {
  throw new Error('index.html has no #root element');
}
createRoot(root).render(
  <StrictMode>
    <MedplumProvider medplum={medplum} navigate={(path) => void router.navigate(path)}>
      <MantineProvider>
        <Notifications position="top-right" />
        <RouterProvider router={router} />
      </MantineProvider>
    </MedplumProvider>
  </StrictMode>
);

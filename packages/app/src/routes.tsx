import { Navigate, type RouteObject } from 'react-router';
import { NotFoundPage } from './pages/NotFoundPage';
import { SignedInLayout } from './pages/SignedInLayout';
import { SignInPage } from './pages/SignInPage';

/** Pages behind sign-in are loaded on demand (the sign-in page ships in the first bundle). */
export const routes: RouteObject[] = [
  { path: '/signin', Component: SignInPage },
  {
    path: '/',
    Component: SignedInLayout,
    children: [
      { index: true, element: <Navigate to="/Patient" replace /> },
      {
        path: 'Patient',
        lazy: async () => ({ Component: (await import('./pages/PatientListPage')).PatientListPage }),
      },
      {
        path: 'Patient/new',
        lazy: async () => ({ Component: (await import('./pages/NewPatientPage')).NewPatientPage }),
      },
      {
        path: 'Patient/:id',
        lazy: async () => ({ Component: (await import('./pages/PatientPage')).PatientPage }),
      },
      {
        path: 'simulator',
        lazy: async () => ({ Component: (await import('./simulator/PhoneSimulatorPage')).PhoneSimulatorPage }),
      },
      { path: '*', Component: NotFoundPage },
    ],
  },
];

import { Anchor, AppShell, Button, Group } from '@mantine/core';
import { Loading, useMedplum, useMedplumContext } from '@medplum/react';
import { Link, Navigate, NavLink, Outlet, useLocation, useNavigate } from 'react-router';

/** The frame of every page behind sign-in; sends anyone signed out to /signin and back. */
export function SignedInLayout() {
  const { profile, loading } = useMedplumContext();
  const medplum = useMedplum();
  const location = useLocation();
  const navigate = useNavigate();
  if (loading) {
    return <Loading />;
  }
  if (!profile) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  const signOut = async (): Promise<void> => {
    await medplum.signOut().catch(() => medplum.clear());
    await navigate('/signin');
  };
  return (
    <AppShell header={{ height: 56 }} padding="md">
      <AppShell.Header px="md">
        <Group h="100%" justify="space-between">
          <Group gap="lg">
            <Anchor component={Link} to="/" fw={700} fz="xl" c="inherit" underline="never">
              Tiba
            </Anchor>
            <Button component={NavLink} to="/Patient" end variant="subtle">
              Patients
            </Button>
            <Button component={NavLink} to="/Patient/new" variant="subtle">
              New patient
            </Button>
            <Button component={NavLink} to="/simulator" variant="subtle">
              Phone simulator
            </Button>
          </Group>
          <Button variant="default" onClick={() => void signOut()}>
            Sign out
          </Button>
        </Group>
      </AppShell.Header>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

import { Center, Title } from '@mantine/core';
import { SignInForm, useMedplumProfile } from '@medplum/react';
import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { safeNext } from '../next-path';

/** Medplum's SignInForm: auth/method, auth/login (PKCE), then oauth2/token through processCode. */
export function SignInPage() {
  const profile = useMedplumProfile();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  if (profile) {
    return <Navigate to={next} replace />;
  }
  return (
    <Center mih="100vh" p="md">
      <SignInForm onSuccess={() => void navigate(next, { replace: true })}>
        <Title order={2}>Sign in to Tiba</Title>
      </SignInForm>
    </Center>
  );
}

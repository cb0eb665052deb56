/** How a caller proved who they are, as recorded on sign-in AuditEvents. */
export type SignInMethod =
  | 'password'
  | 'mfa'
  | 'authorization_code'
  | 'refresh_token'
  | 'client_credentials'
  | 'private_key_jwt';

/** One sign-in attempt, successful or not. */
export interface SignInAudit {
  outcome: 'success' | 'failure';
  method: SignInMethod;
  /** Source IP of the request. */
  ip: string;
  /** The project signed in to, when known (failures before a project is chosen have none). */
  projectId?: string;
  /** Who signed in, as a reference: 'Practitioner/1', 'Patient/2', 'ClientApplication/3'. */
  who?: string;
  /** The email tried, for password sign-ins. */
  email?: string;
  clientId?: string;
  /** Why it failed, in words safe to store (never the password). */
  reason?: string;
}

/** Where auth code reports sign-ins; implemented in audit-log.ts. Never blocks the caller. */
export interface SignInAuditSink {
  recordSignIn(event: SignInAudit): void;
}

import { OAuthError } from './client-credentials.js';

// The class lives with the client_credentials grant, which threw it first; user sign-in code imports it from here.
export { OAuthError };

/** The body of an OAuth2 error: https://datatracker.ietf.org/doc/html/rfc6749#section-5.2 */
export function oauthErrorBody(error: string, description: string): { error: string; error_description: string } {
  return { error, error_description: description };
}

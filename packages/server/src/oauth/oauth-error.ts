/** An OAuth2 error: https://datatracker.ietf.org/doc/html/rfc6749#section-5.2 */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string
  ) {
    super(description);
  }
}

/** The body of an OAuth2 error: https://datatracker.ietf.org/doc/html/rfc6749#section-5.2 */
export function oauthErrorBody(error: string, description: string): { error: string; error_description: string } {
  return { error, error_description: description };
}

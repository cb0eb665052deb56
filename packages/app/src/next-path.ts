/** Where to go after sign-in: only a path on this site (never another origin), else the home page. */
export function safeNext(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') ? next : '/';
}

/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The Tiba server when it is not the page's origin (e.g. `vite dev` on another port). */
  readonly VITE_TIBA_BASE_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}

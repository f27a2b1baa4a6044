import { readFileSync } from 'node:fs';

interface PackageJson {
  version: string;
}

/** The version from package.json, read relative to this file so it works from src/ (tsx) and dist/. */
export function cmeshVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson;
  return pkg.version;
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Meridian's version, from package.json (two levels up from src/common and dist/common alike). */
export const VERSION: string = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string }).version;

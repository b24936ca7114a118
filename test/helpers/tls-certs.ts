import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  cert: string;
  key: string;
}

export interface IssueOptions {
  key?: 'ecdsa' | 'rsa';
  /** DNS subjectAltNames; the first is also the CN. */
  names: string[];
  /** openssl ca dates (YYYYMMDDHHMMSSZ); default: from an hour ago, for 30 days. */
  start?: string;
  end?: string;
  /** Reuse this key file instead of making a new one. */
  keyFile?: string;
}

/**
 * A test certificate authority in `dir`, made with the real `openssl` command line: leaf
 * certificates it signs (ECDSA P-256 or RSA 2048, any dates, past ones included) are what curl,
 * openssl s_client and Node clients verify with `ca`.
 */
export class TestCA {
  readonly ca: string;
  private readonly caKey: string;
  private serial = 0;
  /** `openssl ca` rewrites its serial and index files: one signing at a time. */
  private signing: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {
    this.ca = join(dir, 'ca.pem');
    this.caKey = join(dir, 'ca.key');
  }

  static async create(dir: string): Promise<TestCA> {
    const t = new TestCA(dir);
    await mkdir(join(dir, 'newcerts'), { recursive: true });
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'serial'), '1000\n');
    await writeFile(
      join(dir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = test',
        '[ test ]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'serial = $dir/serial',
        'default_md = sha256',
        'policy = any',
        'copy_extensions = copy',
        'unique_subject = no',
        'email_in_dn = no',
        '[ any ]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', t.caKey]);
    await run('openssl', ['req', '-x509', '-new', '-key', t.caKey, '-subj', '/CN=Meridian Test CA', '-days', '30', '-out', t.ca]);
    return t;
  }

  /** A new key of the given type at `file`. */
  static async key(file: string, type: 'ecdsa' | 'rsa'): Promise<string> {
    if (type === 'ecdsa') await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
    else await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file]);
    return file;
  }

  /** Issues a leaf certificate (and key, unless given) as `<label>.pem` / `<label>.key`. */
  async issue(label: string, o: IssueOptions): Promise<CertFiles> {
    const n = ++this.serial;
    const key = o.keyFile ?? (await TestCA.key(join(this.dir, `${label}.key`), o.key ?? 'ecdsa'));
    const csr = join(this.dir, `${label}-${n}.csr`);
    const cert = join(this.dir, `${label}.pem`);
    await run('openssl', ['req', '-new', '-key', key, '-subj', `/CN=${o.names[0]}`, '-addext', `subjectAltName=${o.names.map((x) => `DNS:${x}`).join(',')}`, '-out', csr]);
    const hourAgo = new Date(Date.now() - 3600_000);
    const start = o.start ?? stamp(hourAgo);
    const end = o.end ?? stamp(new Date(hourAgo.getTime() + 30 * 86_400_000));
    const sign = this.signing.then(() => run('openssl', ['ca', '-batch', '-config', join(this.dir, 'ca.cnf'), '-cert', this.ca, '-keyfile', this.caKey, '-in', csr, '-out', cert, '-notext', '-startdate', start, '-enddate', end]));
    this.signing = sign.catch(() => {});
    await sign;
    return { cert, key };
  }
}

/** openssl ca's date form. */
export function stamp(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

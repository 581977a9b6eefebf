import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files of a throwaway control plane: a CA, the API server's serving pair, an admin
 * client pair in `system:masters`, and the service-account signing pair. */
export interface Pki {
  caCert: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

// EC P-256 keys: an order of magnitude faster to make than RSA, and every part of the
// control plane (TLS, client certs, service-account JWTs as ES256) accepts them.
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed: ${(err as Error).message}`, { cause: err });
  }
}

async function signedPair(dir: string, name: string, subject: string, ext: string): Promise<void> {
  await openssl(
    ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
    dir,
  );
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ]),
    dir,
  );
}

/** Makes a fresh PKI in `dir`. `sans` are the serving certificate's subject alt names. */
export async function makePki(dir: string, sans: string[]): Promise<Pki> {
  await openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '3650',
      '-subj',
      '/CN=heraldlb-lab-ca',
    ],
    dir,
  );
  const serverExt = `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`;
  await signedPair(dir, 'apiserver', '/CN=kube-apiserver', serverExt);
  const clientExt = 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n';
  await signedPair(dir, 'admin', '/O=system:masters/CN=heraldlb-admin', clientExt);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], dir);
  await openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    caCert: join(dir, 'ca.crt'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
  };
}

export interface KubeconfigUser {
  name: string;
  clientCert?: string; // PEM text
  clientKey?: string; // PEM text
  token?: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/**
 * A self-contained kubeconfig (certificates embedded, so the file can be copied), written as
 * JSON — which is YAML too, so kubectl and helm read it unchanged, while our programs parse it
 * with JSON.parse and never load the YAML parser (2.4 MiB of a speaker's memory).
 */
export function kubeconfigYaml(server: string, caPem: string, user: KubeconfigUser): string {
  const creds = user.token
    ? { token: user.token }
    : { 'client-certificate-data': b64(user.clientCert ?? ''), 'client-key-data': b64(user.clientKey ?? '') };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'heraldlb-lab', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: user.name, user: creds }],
    contexts: [{ name: 'heraldlb-lab', context: { cluster: 'heraldlb-lab', user: user.name } }],
    'current-context': 'heraldlb-lab',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export async function adminKubeconfigYaml(server: string, pki: Pki): Promise<string> {
  const [ca, cert, key] = await Promise.all([
    readFile(pki.caCert, 'utf8'),
    readFile(pki.adminCert, 'utf8'),
    readFile(pki.adminKey, 'utf8'),
  ]);
  return kubeconfigYaml(server, ca, { name: 'admin', clientCert: cert, clientKey: key });
}

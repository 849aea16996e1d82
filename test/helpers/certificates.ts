/** Certificates made at test time with openssl: a CA, a server certificate for 127.0.0.1, client certificates. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertificatePaths {
  cert: string;
  key: string;
}

export class TestCertificateAuthority {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;

  constructor(readonly name: string, dir = mkdtempSync(join(tmpdir(), "chatmemory-certs-"))) {
    this.dir = dir;
    this.cert = join(dir, `${name}-ca.pem`);
    this.key = join(dir, `${name}-ca-key.pem`);
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
      "-subj", `/CN=${name} test CA`, "-keyout", this.key, "-out", this.cert);
  }

  /**
   * A leaf certificate signed by this CA; `server` adds SANs for 127.0.0.1 and localhost; `peer` is
   * a server certificate that also authenticates as a client (Redis Cluster nodes use theirs on the
   * cluster bus, which always asks for one).
   */
  issue(commonName: string, kind: "server" | "client" | "peer", fileName = commonName): CertificatePaths {
    const key = join(this.dir, `${fileName}-key.pem`);
    const csr = join(this.dir, `${fileName}.csr`);
    const cert = join(this.dir, `${fileName}.pem`);
    const extensions = join(this.dir, `${fileName}.ext`);
    writeFileSync(
      extensions,
      {
        server: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        peer: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        client: "extendedKeyUsage=clientAuth\n",
      }[kind],
    );
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${commonName}`, "-keyout", key, "-out", csr);
    openssl("x509", "-req", "-in", csr, "-CA", this.cert, "-CAkey", this.key, "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", cert);
    return { cert, key };
  }

  pem(): Buffer {
    return readFileSync(this.cert);
  }
}

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: "pipe" });
}

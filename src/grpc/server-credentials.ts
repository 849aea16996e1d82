/**
 * Server transport security from configuration: plaintext (the default, as
 * behind a mesh sidecar), TLS, or mTLS. Certificates come through grpc-js's
 * file-watching certificate provider, so rotated files are picked up by new
 * connections without a restart.
 */
import * as grpc from "@grpc/grpc-js";

/** Certificate files (PEM paths) and how often to re-read them; no certificate = plaintext. */
export interface TlsSettings {
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Set = mTLS: a client certificate verified against this CA bundle is required. */
  tlsClientCa: string | undefined;
  tlsReloadMs: number;
}

export interface ServerSecurity {
  credentials: grpc.ServerCredentials;
  /**
   * Resolves once the certificate files have been read (at once for plaintext); rejects when they
   * cannot be. Listen after it: the provider reads files asynchronously, and until it has, TLS
   * handshakes fail.
   */
  ready: () => Promise<void>;
}

type CertificateProvider = grpc.experimental.FileWatcherCertificateProvider;

/** Waits for a provider's first update: certificates loaded, or null when the files could not be read. */
function firstUpdate(provider: CertificateProvider, kind: "identity" | "ca"): Promise<void> {
  return new Promise((resolve, reject) => {
    const listener = (update: unknown) => {
      if (kind === "identity") provider.removeIdentityCertificateListener(listener);
      else provider.removeCaCertificateListener(listener);
      if (update === null) reject(new Error(`cannot load the TLS ${kind === "identity" ? "certificate and key" : "client CA"}`));
      else resolve();
    };
    if (kind === "identity") provider.addIdentityCertificateListener(listener);
    else provider.addCaCertificateListener(listener);
  });
}

export function createServerSecurity(settings: TlsSettings): ServerSecurity {
  if (settings.tlsCert === undefined || settings.tlsKey === undefined) {
    return { credentials: grpc.ServerCredentials.createInsecure(), ready: async () => {} };
  }
  const identity = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: settings.tlsCert,
    privateKeyFile: settings.tlsKey,
    refreshIntervalMs: settings.tlsReloadMs,
  });
  const clientCa =
    settings.tlsClientCa === undefined
      ? null
      : new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: settings.tlsClientCa, refreshIntervalMs: settings.tlsReloadMs });
  return {
    // grpc-js 1.14 declares the first two parameters as (ca, identity) but uses them as (identity, ca):
    // pass identity first. test/tls-tenants.test.ts proves TLS and mTLS both work this way.
    credentials: grpc.experimental.createCertificateProviderServerCredentials(identity, clientCa, clientCa !== null),
    ready: async () => {
      await Promise.all([firstUpdate(identity, "identity"), ...(clientCa ? [firstUpdate(clientCa, "ca")] : [])]);
    },
  };
}

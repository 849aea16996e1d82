/**
 * What a handler may know about its call. The transport (src/grpc/adapter.ts)
 * fills it in; handlers never see a grpc-js call object.
 */
import type { PeerCertificate } from "node:tls";

export interface CallContext {
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal: AbortSignal;
  /** The first value of a request header (gRPC metadata), e.g. `authorization`; undefined when absent. */
  requestHeader(name: string): string | undefined;
  readonly peer: string;
  /** The verified client certificate on an mTLS connection; undefined otherwise. */
  readonly peerCertificate: PeerCertificate | undefined;
}

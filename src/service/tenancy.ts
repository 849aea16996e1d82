/**
 * Tenant scoping as the service applies it: with tenancy on, the caller's
 * tenant namespaces every conversation id, so tenant A can neither read,
 * count, clear nor append to tenant B's conversation with the same id. Who
 * the tenant is comes from a resolver (src/auth/tenants.ts).
 */
import type { CallContext } from "./call-context.js";

/** Returns the caller's tenant, undefined when tenancy is off; throws UNAUTHENTICATED (a ChatMemoryError). */
export type TenantResolver = (context: CallContext) => string | undefined;

/** The id the store sees: the tenant's namespace in front of the caller's conversation id. */
export function scopedConversationId(tenant: string | undefined, conversationId: string): string {
  return tenant === undefined ? conversationId : `${tenant}:${conversationId}`;
}

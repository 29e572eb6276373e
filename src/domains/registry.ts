/**
 * The domains of one host by id: what Xen's rcu_lock_domain_by_id looks up
 * when one domain names another (interdomain event channels, grant copies
 * and mappings). One Xenjs owns one registry; a domain joins it once built
 * and leaves it when destroyed, after its event channels and grants are
 * torn down, so no live port or pin ever refers to a domain that is gone.
 *
 * dom0 is not a Domain here: it is the in-process toolstack and backends
 * (domid 0), reached through host endpoints (bindHostPort) and the dom0
 * grant API (src/devices/grant-access.ts).
 *
 * A domain outside any registry (unit tests that build one by hand) knows
 * only itself and dom0.
 */
import { DOMID_SELF } from '../hypercall/abi.ts';
import type { Domain } from './domain.ts';

/** The in-process dom0's domain id. */
export const DOM0_ID = 0;

export class DomainRegistry {
  private readonly byId = new Map<number, Domain>();

  /** Register a built domain; its id must be free and not dom0's. */
  add(d: Domain): void {
    if (d.id === DOM0_ID || d.id >= DOMID_SELF) throw new Error(`domain id ${d.id} cannot be registered`);
    const old = this.byId.get(d.id);
    if (old && old !== d) throw new Error(`domain id ${d.id} is already registered`);
    this.byId.set(d.id, d);
    d.registry = this;
  }

  /** Forget a domain (destroyed). */
  remove(d: Domain): void {
    if (this.byId.get(d.id) === d) this.byId.delete(d.id);
    if (d.registry === this) d.registry = undefined;
  }

  get(id: number): Domain | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

/**
 * rcu_lock_domain_by_any_id from `self`'s point of view: DOMID_SELF or its
 * own id is `self`; another id is the registered domain with that id, or
 * undefined (unknown, reserved, or dom0 — which is no Domain).
 */
export function domainByAnyId(self: Domain, domid: number): Domain | undefined {
  if (domid === DOMID_SELF || domid === self.id) return self;
  return domainById(self, domid);
}

/** rcu_lock_domain_by_id: like domainByAnyId, but DOMID_SELF names no domain. */
export function domainById(self: Domain, domid: number): Domain | undefined {
  if (domid === self.id) return self;
  if (domid === DOM0_ID || domid >= DOMID_SELF) return undefined;
  return self.registry?.get(domid);
}

/**
 * Xen PV time (pv-abi §7): each vCPU's vcpu_time_info with the version
 * protocol, and the wallclock in shared_info. The TSC runs at 1 GHz — it is
 * the domain's system time in ns — so tsc_to_system_mul = 2^31 with shift 1
 * converts TSC deltas to ns exactly, and Linux computes 1,000,000 kHz.
 */
import type { Domain } from './domain.ts';
import type { Vcpu } from './vcpu.ts';
import { SHARED_INFO, VCPU_INFO, VCPU_TIME_INFO } from './shared-info.ts';

export const TSC_TO_SYSTEM_MUL = 0x80000000;
export const TSC_SHIFT = 1;
/** PVCLOCK_TSC_STABLE_BIT: our TSC is the one monotonic domain clock for every vCPU. */
export const PVCLOCK_TSC_STABLE = 1;

/** Publish the current (tsc, system_time) pair to the vCPU's vcpu_info.time, odd/even versioned. */
export function updateVcpuTime(v: Vcpu): void {
  const dv = v.domain.memory.dv;
  const o = v.vcpuInfoOffset() + VCPU_INFO.time;
  const now = v.domain.nowNs();
  const version = dv.getUint32(o + VCPU_TIME_INFO.version, true);
  dv.setUint32(o + VCPU_TIME_INFO.version, (version + 1) | 1, true); // odd: update in progress
  setU64(dv, o + VCPU_TIME_INFO.tsc_timestamp, now);
  setU64(dv, o + VCPU_TIME_INFO.system_time, now);
  dv.setUint32(o + VCPU_TIME_INFO.tsc_to_system_mul, TSC_TO_SYSTEM_MUL, true);
  dv.setInt8(o + VCPU_TIME_INFO.tsc_shift, TSC_SHIFT);
  dv.setUint8(o + VCPU_TIME_INFO.flags, PVCLOCK_TSC_STABLE);
  dv.setUint32(o + VCPU_TIME_INFO.version, ((version + 1) | 1) + 1, true); // even: done
}

/** shared_info wallclock: UTC at system time 0. */
export function updateWallclock(d: Domain, bootEpochMs: number): void {
  const dv = d.memory.dv;
  const o = d.memory.offsetOfMfn(d.sharedInfoMfn);
  const ms = bootEpochMs - d.nowNs() / 1e6;
  const sec = Math.floor(ms / 1000);
  const nsec = Math.floor((ms - sec * 1000) * 1e6);
  const version = dv.getUint32(o + SHARED_INFO.wc_version, true);
  dv.setUint32(o + SHARED_INFO.wc_version, (version + 1) | 1, true);
  dv.setUint32(o + SHARED_INFO.wc_sec, sec >>> 0, true);
  dv.setUint32(o + SHARED_INFO.wc_nsec, nsec, true);
  dv.setUint32(o + SHARED_INFO.wc_sec_hi, Math.floor(sec / 4294967296), true);
  dv.setUint32(o + SHARED_INFO.wc_version, ((version + 1) | 1) + 1, true);
}

function setU64(dv: DataView, o: number, v: number): void {
  dv.setUint32(o, v >>> 0, true);
  dv.setUint32(o + 4, Math.floor(v / 4294967296), true);
}

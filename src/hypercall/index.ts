/** Registers every hypercall family with the dispatch table. */
import './mmu.ts';
import './vm-assist.ts';
import './descriptors.ts';
import './version.ts';
import './memory.ts';
import './console.ts';
import './sched.ts';
import './vcpu-op.ts';
import './physdev.ts';
import './multicall.ts';
import './evtchn.ts';
import './grant.ts';
import './misc.ts';

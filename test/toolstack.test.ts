/**
 * The toolstack library API (src/domains/toolstack.ts) with real guests:
 * Debian's cloud kernel (images/demo.cfg; with earlyprintk=xen its early
 * boot prints through console_io) for the console API, budgets,
 * deterministic replay, and a whole boot to its busybox shell driven through
 * the console; and a tiny PV guest built here with gcc
 * (test/helpers/tiny-guest.ts) that boots in a few hundred instructions and
 * powers off, reboots, crashes, spins or echoes its console input on
 * request — for the lifecycle actions, input and shutdown requests.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Xenjs, type DomainState, type ExitInfo } from '../src/index.ts';
import { IMAGES } from './helpers/images.ts';
import { tinyConfig, tinyGuest } from './helpers/tiny-guest.ts';

const tmp = mkdtempSync(join(tmpdir(), 'xenjs-toolstack-'));
const DEMO = join(IMAGES, 'demo.cfg');
const EARLY = 'extra="console=hvc0 earlyprintk=xen"';

/** Every host a test makes is closed afterwards, whatever happened. */
const hosts: Xenjs[] = [];
function host(opts: ConstructorParameters<typeof Xenjs>[0] = {}): { xen: Xenjs; log: string[] } {
  const log: string[] = [];
  const xen = new Xenjs({ log: (l) => log.push(l), ...opts });
  hosts.push(xen);
  return { xen, log };
}
afterEach(async () => {
  for (const x of hosts.splice(0)) await x.close();
});

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('console API on the Debian kernel', () => {
  it('waitFor matches an early boot line, and output that arrived before the call; destroy stops the domain', async () => {
    const { xen } = host();
    const d = await xen.createDomain(DEMO, { overrides: [EARLY] });
    expect(d.name).toBe('demo');
    expect(d.id).toBe(1);
    expect(['running', 'blocked']).toContain(d.state);
    const m = await d.console.waitFor(/Linux version (\S+)/, { timeout: 300_000 });
    expect(m.captures[0]).toMatch(/^6\.1\.0-\d+-cloud-amd64$/);
    expect(d.console.text().slice(m.index, m.end)).toBe(m.match);
    // Printed long before the call: still found, at once.
    const early = await d.console.waitFor('about to get started...', { timeout: 1 });
    expect(early.index).toBeLessThan(m.index);
    expect(d.console.text().indexOf('mapping kernel into physical memory')).toBeLessThan(early.index);
    // `from` restricts the search to what comes after a mark.
    await expect(d.console.waitFor('about to get started...', { from: m.end, timeout: 50 })).rejects.toThrow(/timed out after 50 ms .* on the console of demo; last lines:/s);
    const pending = d.console.waitFor('this text never appears');
    const exited = d.waitForExit();
    d.destroy();
    expect(d.state).toBe('destroyed');
    await expect(pending).rejects.toThrow(/domain demo was destroyed before "this text never appears" appeared/);
    expect(await exited).toMatchObject({ reason: 'destroyed', state: 'destroyed', id: 1, name: 'demo' });
    const n = xen.totalInsns;
    await tick(300);
    expect(xen.totalInsns).toBe(n);
    expect(xen.domains).toHaveLength(0);
    expect(await xen.run()).toBe('idle');
  }, 400_000);

  it('boots Debian to its busybox shell: typed commands run, control/shutdown is read, `poweroff -f` powers it off', async () => {
    const { xen } = host();
    const d = await xen.createDomain(DEMO);
    const prompt = await d.console.waitFor(/XENJS-BOOT-OK[^\n]*\n[\s\S]*# /, { timeout: 1_000_000 });
    // xenbus is up: the guest advertised its shutdown control (Linux's manage.c).
    expect(xen.store.dom0.read(`/local/domain/${d.id}/control/feature-poweroff`)).toBe('1');
    d.console.write('echo hello-$((6*7))\n');
    await d.console.waitFor('hello-42', { from: prompt.end, timeout: 300_000 });
    // xl shutdown: the guest reads control/shutdown and clears it. (What it then does is its
    // userland's business: orderly_poweroff runs /sbin/poweroff.)
    d.shutdown('poweroff');
    const node = `/local/domain/${d.id}/control/shutdown`;
    for (let k = 0; k < 3000 && !d.exit && xen.store.dom0.read(node) !== ''; k++) await tick(100);
    expect(d.exit ?? xen.store.dom0.read(node)).not.toBe('poweroff');
    d.console.write('poweroff -f\n');
    expect(await d.waitForExit()).toMatchObject({ reason: 'poweroff', state: 'destroyed', action: 'destroy', name: 'demo' });
    expect(d.console.text()).not.toMatch(/Oops|BUG:|Kernel panic/);
  }, 1_500_000);

  it('a deterministic host replays the same boot exactly; maxInsns stops it', async () => {
    const BUDGET = 20_000_000;
    const boot = async (): Promise<{ text: string; insns: number; state: DomainState }> => {
      const { xen } = host({ deterministic: true, maxInsns: BUDGET });
      const d = await xen.createDomain(DEMO, { overrides: [EARLY] });
      expect(await xen.run()).toBe('budget');
      const r = { text: d.console.text(), insns: xen.totalInsns, state: d.state };
      await xen.close();
      return r;
    };
    const a = await boot();
    const b = await boot();
    // The budget is checked after every scheduler slice (2 M instructions).
    expect(a.insns).toBeGreaterThanOrEqual(BUDGET);
    expect(a.insns).toBeLessThan(BUDGET + 2_000_100);
    expect(a.state).toBe('running');
    // printk timestamps come from guest time, which here is the instruction count: identical runs.
    expect(a.text).toMatch(/\] Linux version 6\.1\.0-/);
    const stamps = [...a.text.matchAll(/^\[\s*(\d+\.\d{6})\]/gm)].map((x) => Number(x[1]));
    expect(stamps.length).toBeGreaterThan(10);
    expect(Math.max(...stamps)).toBeGreaterThan(0);
    expect(b.text).toBe(a.text);
    expect(b.insns).toBe(a.insns);
  }, 400_000);
});

describe('lifecycle with a tiny PV guest', () => {
  it('powers off: on_poweroff=destroy removes the domain and its xenstore nodes', async () => {
    const { xen, log } = host();
    const d = await xen.createDomain(tinyConfig('0'));
    const states: string[] = [];
    const shutdowns: string[] = [];
    d.on('state', (s, prev) => states.push(`${prev}->${s}`));
    d.on('shutdown', (reason, action) => shutdowns.push(`${reason}:${action}`));
    const id = d.id;
    expect(xen.store.dom0.read(`/local/domain/${id}/name`)).toBe('tiny');
    const info = await d.waitForExit();
    expect(info).toEqual({ reason: 'poweroff', state: 'destroyed', action: 'destroy', id, name: 'tiny' });
    expect(d.exit).toEqual(info);
    expect(states).toEqual(['running->destroyed']);
    expect(shutdowns).toEqual(['poweroff:destroy']);
    expect(d.console.text()).toBe('tiny: hello\ntiny: cmdline 0\ntiny: shutdown 0\n');
    expect(xen.domains).toHaveLength(0);
    expect(xen.store.dom0.read(`/local/domain/${id}/name`)).toBeNull();
    expect(log).toContain(`(xenjs) d${id}: guest shutdown: poweroff`);
    expect(await xen.run()).toBe('idle');
  });

  it('crashes: on_crash=preserve keeps it, crashed, until destroy()', async () => {
    const { xen } = host();
    const d = await xen.createDomain(tinyConfig('3', { on_crash: 'preserve' }));
    const exitEvents: ExitInfo[] = [];
    d.on('exit', (i) => exitEvents.push(i));
    const info = await d.waitForExit();
    expect(info).toMatchObject({ reason: 'crash', state: 'crashed', action: 'preserve' });
    expect(d.state).toBe('crashed');
    expect(d.console.tail(2)).toEqual(['tiny: shutdown 3', 'tiny: panic: oh no']);
    expect(xen.domains.map((h) => h.name)).toEqual(['tiny']);
    expect(xen.domain('tiny')).toBe(d);
    expect(xen.domain(d.id)).toBe(d);
    // Nothing runs it any more: the host is idle with the domain still there.
    expect(await xen.run()).toBe('idle');
    await expect(d.console.waitFor('never')).rejects.toThrow(/domain tiny crashed before "never"/);
    d.destroy();
    expect(d.state).toBe('destroyed');
    expect(xen.domains).toHaveLength(0);
    expect(exitEvents).toHaveLength(1); // exit fired once, at the crash
    expect(d.exit).toMatchObject({ reason: 'crash', state: 'destroyed' });
  });

  it('on_poweroff=preserve leaves it shut down; on_watchdog and coredump-destroy destroy it', async () => {
    const { xen, log } = host();
    const p = await xen.createDomain(tinyConfig('0', { name: 'keep', on_poweroff: 'preserve' }));
    expect(await p.waitForExit()).toMatchObject({ reason: 'poweroff', state: 'shutdown', action: 'preserve' });
    expect(p.state).toBe('shutdown');
    const w = await xen.createDomain(tinyConfig('4', { name: 'dog' }));
    expect(await w.waitForExit()).toMatchObject({ reason: 'watchdog', state: 'destroyed', action: 'destroy' });
    const c = await xen.createDomain(tinyConfig('3', { name: 'core', on_crash: 'coredump-destroy' }));
    expect(await c.waitForExit()).toMatchObject({ reason: 'crash', state: 'destroyed', action: 'coredump-destroy' });
    expect(log.some((l) => /coredump-destroy: xenjs writes no core dumps; destroying/.test(l))).toBe(true);
    expect(xen.domains.map((h) => h.name)).toEqual(['keep']);
  });

  it('reboots: on_reboot=restart builds it again with a new id; the handle and its console go on', async () => {
    const { xen } = host();
    const d = await xen.createDomain(tinyConfig('1'));
    const ids = [d.id];
    d.on('restart', (newId, oldId) => {
      expect(oldId).toBe(ids[ids.length - 1]);
      ids.push(newId);
      if (ids.length === 3) d.destroy(); // the third boot never runs
    });
    const info = await d.waitForExit();
    expect(info).toMatchObject({ reason: 'destroyed', state: 'destroyed' });
    expect(ids).toEqual([1, 2, 3]);
    expect(d.console.text().match(/tiny: hello/g)).toHaveLength(2);
    expect(d.console.text().match(/tiny: shutdown 1/g)).toHaveLength(2);
    // The xenstore directories of the old domains are gone.
    for (const id of ids) expect(xen.store.dom0.read(`/local/domain/${id}/name`)).toBeNull();
  });

  it('rename-restart keeps the old domain under a dated name (deterministic clock) and starts a new one', async () => {
    const { xen } = host({ deterministic: true });
    const d = await xen.createDomain(tinyConfig('1', { on_reboot: 'rename-restart' }));
    const oldId = d.id;
    let newId = -1;
    d.once('restart', (id) => {
      newId = id;
      d.destroy();
    });
    await d.waitForExit();
    expect(newId).toBe(oldId + 1);
    const kept = xen.domains;
    expect(kept.map((h) => h.name)).toEqual(['tiny-20240101T0000Z']);
    const old = kept[0]!;
    expect(old.id).toBe(oldId);
    expect(old.state).toBe('shutdown');
    expect(old.exit).toMatchObject({ reason: 'reboot', state: 'shutdown', name: 'tiny-20240101T0000Z' });
    expect(old.console.text()).toContain('tiny: shutdown 1');
    expect(xen.store.dom0.read(`/local/domain/${oldId}/name`)).toBe('tiny-20240101T0000Z');
    old.destroy();
    expect(xen.domains).toHaveLength(0);
  });

  it('console input reaches the guest through the hvc0 ring (Ctrl-C is just a byte)', async () => {
    const { xen } = host();
    const d = await xen.createDomain(tinyConfig('e'));
    const seen: number[] = [];
    d.console.onData((b) => seen.push(...b));
    await d.console.waitFor('tiny: echo ready\n', { timeout: 20_000 });
    d.console.write('hi\x03');
    const m = await d.console.waitFor('hi<03>', { timeout: 20_000 });
    d.console.write(new Uint8Array([0x7f, 0x71])); // DEL, then 'q'
    const info = await d.waitForExit();
    expect(info).toMatchObject({ reason: 'poweroff', state: 'destroyed' });
    expect(d.console.text().slice(m.end)).toBe('<7f>qtiny: bye\n');
    expect(Buffer.from(seen).toString('latin1')).toBe(d.console.text());
  });

  it('two hosts in one process: each runs its own guest and takes its console input', async () => {
    const a = host().xen, b = host().xen;
    const da = await a.createDomain(tinyConfig('e'));
    await da.console.waitFor('tiny: echo ready\n', { timeout: 20_000 });
    // The second host starts after the first guest blocked waiting for input.
    const db = await b.createDomain(tinyConfig('e'));
    await db.console.waitFor('tiny: echo ready\n', { timeout: 20_000 });
    da.console.write('A');
    db.console.write('B');
    await da.console.waitFor('A', { timeout: 20_000 });
    await db.console.waitFor('B', { timeout: 20_000 });
    da.console.write('q');
    db.console.write('q');
    expect(await da.waitForExit()).toMatchObject({ reason: 'poweroff' });
    expect(await db.waitForExit()).toMatchObject({ reason: 'poweroff' });
  });

  it('shutdown() writes control/shutdown; with timeout or force the hypervisor shuts it down', async () => {
    const { xen } = host();
    const d = await xen.createDomain(tinyConfig('s'));
    await d.console.waitFor('tiny: cmdline s', { timeout: 20_000 });
    d.shutdown('reboot');
    expect(xen.store.dom0.read(`/local/domain/${d.id}/control/shutdown`)).toBe('reboot');
    // The tiny guest reads no xenstore; a timeout forces it (and on_reboot=restart applies).
    const firstId = d.id;
    const restarted = new Promise<number>((r) => d.once('restart', (id) => r(id)));
    d.shutdown('reboot', { timeout: 50 });
    expect(await restarted).toBe(firstId + 1);
    expect(d.state).not.toBe('destroyed');
    d.shutdown('poweroff', { force: true });
    expect(await d.waitForExit()).toMatchObject({ reason: 'poweroff', state: 'destroyed', action: 'destroy' });
    expect(() => d.shutdown('suspend' as 'poweroff')).toThrow(/cannot ask a domain to suspend/);
  });

  it('pause() stops a busy guest, unpause() resumes it; maxInsns ends run() with "budget"', async () => {
    const { xen } = host({ maxInsns: 30_000_000 });
    const d = await xen.createDomain(tinyConfig('s'));
    const states: string[] = [];
    d.on('state', (s) => states.push(s));
    await d.console.waitFor('tiny: cmdline s', { timeout: 20_000 });
    d.pause();
    expect(d.state).toBe('paused');
    await tick(50);
    const a = d.instructions;
    await tick(200);
    expect(d.instructions).toBe(a);
    d.unpause();
    expect(await xen.run()).toBe('budget');
    expect(d.instructions).toBeGreaterThan(a);
    expect(xen.totalInsns).toBeGreaterThanOrEqual(30_000_000);
    expect(states).toEqual(['paused', 'running']);
    expect(d.state).toBe('running');
  });

  it('a paused domain created with { paused: true } waits for unpause', async () => {
    const { xen } = host();
    const d = await xen.createDomain(tinyConfig('0'), { paused: true });
    expect(d.state).toBe('paused');
    await tick(100);
    expect(d.instructions).toBe(0);
    d.unpause();
    expect(await d.waitForExit()).toMatchObject({ reason: 'poweroff' });
  });
});

describe('configs and host behaviour', () => {
  it('accepts a config file, a DomainConfig, xl keys and overrides; names are unique; errors name the key', async () => {
    const { xen } = host();
    const file = join(tmp, 'tiny.cfg');
    writeFileSync(file, `name = "fromfile"\nkernel = "${tinyGuest()}"\nmemory = 8\nextra = "1"\n`);
    const a = await xen.createDomain(file, { overrides: ['extra="0"'], paused: true });
    expect(a.name).toBe('fromfile');
    expect(a.config.cmdline).toBe('0');
    expect(a.config.on_reboot).toBe('restart'); // xl's defaults
    await expect(xen.createDomain(file)).rejects.toThrow('domain with name "fromfile" already exists');
    const b = await xen.createDomain(a.config, { overrides: ['name="copy"'], paused: true });
    expect(b.name).toBe('copy');
    expect(b.id).toBe(a.id + 1);
    await expect(xen.createDomain({ name: 'bad', kernel: tinyGuest(), memory: 'lots' })).rejects.toThrow(/^<object>:3:1: memory must be a number/);
    await expect(xen.createDomain({ name: 'bad', kernel: tinyGuest(), on_crash: 'explode' })).rejects.toThrow(/unknown on_crash action/);
    await expect(xen.createDomain({ name: 'nokernel' })).rejects.toThrow(/no kernel given/);
    a.destroy();
    b.destroy();
  });

  it('writes the console log from the first byte; a throwing listener does not stop the host', async () => {
    const { xen, log } = host();
    const file = join(tmp, 'console.log');
    const d = await xen.createDomain(tinyConfig('0'), { consoleLog: file });
    d.console.onData(() => {
      throw new Error('listener bug');
    });
    d.on('shutdown', () => {
      throw new Error('event listener bug');
    });
    const info = await d.waitForExit();
    expect(info.reason).toBe('poweroff');
    expect(readFileSync(file, 'latin1')).toBe(d.console.text());
    expect(d.console.text()).toContain('tiny: shutdown 0');
    expect(log.some((l) => l.includes('listener bug'))).toBe(true);
    expect(log.some((l) => l.includes('event listener bug'))).toBe(true);
  });

  it('deterministic time is the instruction count while the guest runs', async () => {
    const { xen } = host({ deterministic: { nsPerInsn: 2 }, maxInsns: 5_000_000 });
    const d = await xen.createDomain(tinyConfig('s'));
    expect(await xen.run()).toBe('budget');
    expect(xen.nowNs()).toBe(xen.totalInsns * 2);
    expect(d.domain!.nowNs()).toBe(xen.nowNs());
  });
});

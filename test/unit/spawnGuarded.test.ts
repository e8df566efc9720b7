import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tsxEntryArgs } from "../../src/util/nodeEntry.ts";
import { isProcessAlive } from "../../src/util/processAlive.ts";
import { fileSystemConfinementAvailable, networkNamespaceAvailable, spawnGuarded, systemTool } from "../../src/util/spawnGuarded.ts";
import { REPO } from "../helpers/cli.ts";
import { waitGone } from "../helpers/waitGone.ts";

const posix = process.platform !== "win32";
const linux = process.platform === "linux";

async function run(
  command: string,
  args: string[],
  options: Parameters<typeof spawnGuarded>[2],
): Promise<{ out: string; code: number | null; signal: string | null }> {
  let out = "";
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  const g = spawnGuarded(command, args, { ...options, onStdout: collect, onStderr: collect });
  const { code, signal } = await g.exited;
  return { out, code, signal };
}

describe.skipIf(!posix)("spawnGuarded (POSIX)", () => {
  it("gives the command exactly the environment passed, none of ours", async () => {
    process.env.RUST_KB_TEST_CANARY = "canary-7f3a9";
    try {
      const { out, code } = await run("/usr/bin/env", [], { env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent-home" } });
      expect(code).toBe(0);
      expect(out.trim().split("\n").sort()).toEqual(["HOME=/nonexistent-home", "PATH=/usr/bin:/bin"]);
    } finally {
      delete process.env.RUST_KB_TEST_CANARY;
    }
  });

  it.skipIf(!linux || !systemTool("prlimit"))(
    "applies the rlimits (CPU seconds, address space, file size, processes) (needs util-linux prlimit: skipped without it)",
    async () => {
      const { out } = await run("/bin/cat", ["/proc/self/limits"], {
        env: {},
        limits: { cpuSeconds: 7, addressSpaceBytes: 1_500_000_000, fileSizeBytes: 3_000_000, processes: 4321 },
      });
      expect(out).toMatch(/Max cpu time\s+7\s+8\s+seconds/);
      expect(out).toMatch(/Max address space\s+1500000000\s+1500000000\s+bytes/);
      expect(out).toMatch(/Max file size\s+3000000\s+3000000\s+bytes/);
      expect(out).toMatch(/Max processes\s+4321\s+4321/);
    },
  );

  it.skipIf(!linux || !systemTool("prlimit"))("ends a command that spins past its CPU limit", async () => {
    const started = Date.now();
    const { signal } = await run("/bin/sh", ["-c", "while :; do :; done"], { env: {}, limits: { cpuSeconds: 1 } });
    expect(["SIGXCPU", "SIGKILL"]).toContain(signal);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it.skipIf(!linux || !fileSystemConfinementAvailable())(
    "confined, the command sees only the paths given: not /etc, /home or the rest of /tmp; it still dies with its watchdog (skipped where mount namespaces are disabled)",
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-confine-"));
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), "rust-kb-outside-"));
      try {
        const work = path.join(dir, "work");
        fs.mkdirSync(work);
        fs.mkdirSync(path.join(dir, "root"));
        fs.writeFileSync(path.join(work, "mine.txt"), "mine\n");
        fs.writeFileSync(path.join(outside, "secret.txt"), "secret\n");
        const visible = ["/usr", "/bin", "/lib", "/lib64"].filter((p) => fs.existsSync(p));
        const script = `cat mine.txt; cat ${outside}/secret.txt; ls /etc/hostname; ls /tmp; readlink /proc/self/exe; pwd`;
        let out = "";
        const g = spawnGuarded("/bin/sh", ["-c", script], {
          env: { PATH: "/usr/bin:/bin" },
          cwd: work,
          noNetwork: true,
          confine: { visible: [...visible, work], rootDir: path.join(dir, "root"), links: [["/proc/self/exe", "/usr/bin/true"]] },
          onStdout: (d) => {
            out += d.toString();
          },
        });
        await g.exited;
        expect(g.isolation.confined).toBe(true);
        expect(out).toBe(`mine\n${path.basename(dir)}\n/usr/bin/true\n${work}\n`);
        // The mounts lived in the command's own namespace: here the root is an empty folder.
        expect(fs.readdirSync(path.join(dir, "root"))).toEqual([]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(outside, { recursive: true, force: true });
      }
    },
  );

  it.skipIf(!linux || !networkNamespaceAvailable())("runs without network where unprivileged namespaces work (skipped where they are disabled)", async () => {
    // /proc/self/net/dev lists the interfaces of the process's own network namespace.
    const { out, code } = await run("/bin/cat", ["/proc/self/net/dev"], { env: {}, noNetwork: true });
    expect(code).toBe(0);
    const interfaces = out
      .split("\n")
      .slice(2)
      .map((l) => l.split(":")[0]?.trim())
      .filter((n) => n);
    expect(interfaces).toEqual(["lo"]);
    const host = fs.readFileSync("/proc/self/net/dev", "utf8").split("\n").length;
    expect(host).toBeGreaterThan(3);
  });

  it("stops a command that ignores SIGTERM with SIGKILL after the grace period, and its whole process group", async () => {
    const g = spawnGuarded("/bin/sh", ["-c", "trap '' TERM; /bin/sleep 600 & wait"], { env: { PATH: "/usr/bin:/bin" }, graceMs: 300 });
    const pid = await g.pid;
    expect(pid).toBeGreaterThan(0);
    // The pid is reported as the command starts; setsid makes it a group leader a moment later.
    const pgid = () =>
      Number(
        fs
          .readFileSync(`/proc/${pid}/stat`, "utf8")
          .replace(/^.*\) /s, "")
          .split(" ")[2],
      );
    if (g.isolation.ownProcessGroup && linux) {
      for (let i = 0; i < 100 && pgid() !== pid; i++) await new Promise((r) => setTimeout(r, 20));
      expect(pgid()).toBe(pid);
      await new Promise((r) => setTimeout(r, 200));
    }
    const started = Date.now();
    g.stop();
    const end = await g.exited;
    expect(end.signal).toBe("SIGKILL");
    expect(Date.now() - started).toBeLessThan(5000);
    if (g.isolation.ownProcessGroup) {
      // Its members are gone once reaped (a zombie still answers kill(-pgid, 0) for a moment).
      const groupAlive = () => {
        try {
          process.kill(-(pid as number), 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 100 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(groupAlive()).toBe(false);
    }
  });

  async function startParent(detached: boolean) {
    const parent = spawn(process.execPath, tsxEntryArgs("test/fixtures/bin/guardedParent.ts"), { cwd: REPO, stdio: ["ignore", "pipe", "inherit"], detached });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      parent.stdout?.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.split("\n")[0] ?? "");
      });
      parent.on("exit", () => reject(new Error(`parent exited early: ${buf}`)));
    });
    return { parent, info: JSON.parse(line) as { pid: number; isolation: { diesWithWatchdog: boolean } } };
  }

  it("kills the command when its parent is SIGKILLed", async () => {
    const { parent, info } = await startParent(false);
    expect(isProcessAlive(info.pid)).toBe(true);
    parent.kill("SIGKILL");
    expect(await waitGone(info.pid, 5000)).toBe(true);
  }, 30_000);

  it.skipIf(!linux || !systemTool("setpriv"))(
    "kills the command when the parent's whole process group is SIGKILLed, watchdog included (needs util-linux setpriv)",
    async () => {
      const { parent, info } = await startParent(true);
      expect(info.isolation.diesWithWatchdog).toBe(true);
      expect(isProcessAlive(info.pid)).toBe(true);
      process.kill(-(parent.pid as number), "SIGKILL");
      expect(await waitGone(info.pid, 5000)).toBe(true);
    },
    30_000,
  );
});

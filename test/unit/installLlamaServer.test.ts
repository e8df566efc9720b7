import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type InstallDeps, installLlamaServer, missingTools, parseProgress } from "../../scripts/installLlamaServer.ts";
import { bundleCommit } from "../../src/util/llamaCppTools.ts";

const REPO = path.resolve(import.meta.dirname, "..", "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "install-llama-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const COMMIT = "80fb11ac73e66d89eae2c6a91d8a77428fa733ed";
/** The tests' clock: a fake build moves it on by 2 s a line. */
const clock = { ms: 0 };
const ALL_TOOLS = new Set(["cmake", "c++", "git", "ninja", "make"]);

/** A machine with every tool, no cache and no GPU; `build` must not be reached unless a test says so. */
function deps(overrides: Partial<InstallDeps> = {}): InstallDeps & { output: () => string; calls: string[] } {
  let text = "";
  const calls: string[] = [];
  const base: InstallDeps = {
    skip: false,
    platform: "linux",
    cacheRoot: fs.mkdtempSync(path.join(tmp, "cache-")),
    home: "/home/u",
    commit: COMMIT,
    cuda: false,
    check: async () => {
      calls.push("check");
      return undefined;
    },
    which: (name) => (ALL_TOOLS.has(name) ? `/usr/bin/${name}` : undefined),
    xcodeTools: () => true,
    cxx: undefined,
    build: async () => {
      calls.push("build");
      return 0;
    },
    out: {
      write: (s: string) => {
        text += s;
      },
      isTTY: false,
    },
    now: () => clock.ms,
  };
  return Object.assign(base, overrides, { output: () => text, calls });
}

/** A ninja run of `total` steps, as the build script's output lines. */
function ninjaLines(total: number): string[] {
  return [
    "== extracting llama.cpp from node-llama-cpp's bundle",
    "applied grammar-candidates.diff",
    "== configuring: llama.cpp, Linux x86_64, CPU variant zen4, static, Ninja, 2 jobs",
    "-- The C compiler identification is GNU 12.2.0",
    "== building llama-server",
    ...Array.from({ length: total }, (_, i) => `[${i + 1}/${total}] Building CXX object src/CMakeFiles/llama.dir/unit${i}.cpp.o`),
    "built llama-server in 600 s",
    "llama-server cached",
    `/home/u/.cache/rust-kb-pipeline/llama.cpp/${COMMIT}/bin/llama-server`,
  ];
}

describe("npm install's llama-server step (scripts/installLlamaServer.ts)", () => {
  it("RUST_KB_SKIP_LLAMA_BUILD skips it with one line, before looking at the cache or the tools", async () => {
    const d = deps({ skip: true });
    expect(await installLlamaServer(d)).toBe("skipped");
    expect(d.calls).toEqual([]);
    expect(d.output().trim().split("\n")).toHaveLength(1);
    expect(d.output()).toMatch(/RUST_KB_SKIP_LLAMA_BUILD is set; runs use node-llama-cpp in process.*buildLlamaServer\.sh/);
  });

  it("a current cached build returns at once, naming it, and builds nothing", async () => {
    const d = deps({ check: async () => `/home/u/.cache/rust-kb-pipeline/llama.cpp/${COMMIT}/bin/llama-server` });
    expect(await installLlamaServer(d)).toBe("cached");
    expect(d.calls).not.toContain("build");
    expect(d.output()).toBe(`rust-kb: llama-server (the fast engine) is built: ~/.cache/rust-kb-pipeline/llama.cpp/${COMMIT}/bin/llama-server\n`);
  });

  it("without cmake or a compiler: one line saying what is missing, what runs instead and how to get the fast engine", async () => {
    const d = deps({ which: (name) => (name === "make" || name === "git" ? `/usr/bin/${name}` : undefined) });
    expect(await installLlamaServer(d)).toBe("no-tools");
    expect(d.calls).toEqual(["check"]);
    const lines = d.output().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cmake and a C\+\+ compiler are missing; runs use node-llama-cpp in process/);
    expect(lines[0]).toMatch(/apt-get install cmake g\+\+.*then run `bash scripts\/buildLlamaServer\.sh`/);
  });

  it("on a Mac names Xcode's command-line tools and Homebrew's cmake", async () => {
    const d = deps({ platform: "darwin", xcodeTools: () => false, which: () => undefined });
    expect(await installLlamaServer(d)).toBe("no-tools");
    expect(d.output()).toMatch(/cmake and Xcode's command-line tools are missing.*xcode-select --install; brew install cmake/);
    expect(
      missingTools({ platform: "darwin", xcodeTools: () => true, which: (n) => (n === "cmake" ? "/opt/homebrew/bin/cmake" : undefined), cxx: undefined }),
    ).toEqual([]);
  });

  it("a failed build never fails the install: exit status 0 upstream, the reason, the fallback and the log's path", async () => {
    const d = deps({
      build: async (onLine) => {
        for (const line of [
          "== building llama-server",
          "[1/344] Building CXX object a.o",
          "/src/ggml.c:12:10: fatal error: immintrin.h: No such file",
          "ninja: build stopped: subcommand failed.",
        ])
          onLine(line);
        return 1;
      },
    });
    expect(await installLlamaServer(d)).toBe("failed");
    const out = d.output();
    expect(out).toMatch(
      /the llama-server build failed \(exit 1\) after .*: \/src\/ggml\.c:12:10: fatal error: immintrin\.h: No such file\. npm install goes on; runs use node-llama-cpp in process/,
    );
    const log = path.join(d.cacheRoot, `${COMMIT}.build.log`);
    expect(out).toContain(`Full log: ${log}`);
    expect(fs.readFileSync(log, "utf8")).toContain("ninja: build stopped");
  });

  it("a build that cannot even start is a failed build, not a thrown error", async () => {
    const d = deps({
      build: async () => {
        throw new Error("spawn bash ENOENT");
      },
    });
    expect(await installLlamaServer(d)).toBe("failed");
    expect(d.output()).toMatch(/could not start the build: spawn bash ENOENT/);
  });

  it("a build shows a line per tenth without a terminal, not the compiler's lines, and keeps them all in the log", async () => {
    const d = deps({
      build: async (onLine) => {
        for (const line of ninjaLines(344)) {
          clock.ms += 2000;
          onLine(line);
        }
        return 0;
      },
    });
    expect(await installLlamaServer(d)).toBe("built");
    const lines = d.output().trim().split("\n");
    expect(lines[0]).toMatch(
      new RegExp(
        `^rust-kb: building llama-server \\(the fast engine\\) once into ${d.cacheRoot}/${COMMIT}: about 15 min on 2 cores.*RUST_KB_SKIP_LLAMA_BUILD=1 skips it`,
      ),
    );
    expect(lines.length).toBeLessThan(20);
    expect(lines).toContain("rust-kb: llama-server: configuring: llama.cpp, Linux x86_64, CPU variant zen4, static, Ninja, 2 jobs");
    expect(lines.some((l) => /^rust-kb: llama-server \[35\/344\] 10%, 1 min so far, ~12 min left$/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes("Building CXX"))).toBe(false);
    expect(lines[lines.length - 1]).toMatch(
      new RegExp(`^rust-kb: llama-server built in \\d+ min: ~/\\.cache/rust-kb-pipeline/llama\\.cpp/${COMMIT}/bin/llama-server; runs use it\\.$`),
    );
    expect(
      fs
        .readFileSync(path.join(d.cacheRoot, `${COMMIT}.build.log`), "utf8")
        .split("\n")
        .filter((l) => l.includes("Building CXX")),
    ).toHaveLength(344);
  });

  it("on a terminal the progress is one line rewritten in place", async () => {
    const d = deps({
      out: {
        write: (s: string) => {
          written += s;
        },
        isTTY: true,
      },
      build: async (onLine) => {
        for (const line of ninjaLines(50)) {
          clock.ms += 2000;
          onLine(line);
        }
        return 0;
      },
    });
    let written = "";
    await installLlamaServer(d);
    expect(written).toMatch(/\r\x1b\[Krust-kb: llama-server \[\d+\/50\] \d+%/);
    expect(written.split("\n").length).toBeLessThanOrEqual(3);
  });

  it("where an NVIDIA GPU is present (runs stay in process on CUDA) it does not build the CPU server", async () => {
    const d = deps({ cuda: true });
    expect(await installLlamaServer(d)).toBe("gpu");
    expect(d.calls).toEqual(["check"]);
  });

  it("reads ninja's and make's progress", () => {
    expect(parseProgress("[120/344] Building CXX object x.o")).toEqual({ fraction: 120 / 344, step: [120, 344] });
    expect(parseProgress("[ 45%] Building CXX object x.o")).toEqual({ fraction: 0.45 });
    expect(parseProgress("-- Configuring done")).toBeUndefined();
  });
});

describe("the real entry point and build script, with the build never reached", () => {
  const tsxLoader = ["--import", "tsx", path.join(REPO, "scripts", "installLlamaServer.ts")];

  it("npm's postinstall with RUST_KB_SKIP_LLAMA_BUILD=1 exits 0 with one line", () => {
    const r = spawnSync(process.execPath, tsxLoader, { cwd: REPO, env: { ...process.env, RUST_KB_SKIP_LLAMA_BUILD: "1" }, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^rust-kb: llama-server \(the fast engine\) not built: RUST_KB_SKIP_LLAMA_BUILD is set/),
    ]);
  });

  it("on a machine with no compiler, cmake or git (a PATH holding only bash) and an empty cache: exit 0, one line naming them", () => {
    const bin = fs.mkdtempSync(path.join(tmp, "path-"));
    fs.symlinkSync(execFileSync("bash", ["-c", "command -v bash"], { encoding: "utf8" }).trim(), path.join(bin, "bash"));
    const cache = fs.mkdtempSync(path.join(tmp, "xdg-"));
    const r = spawnSync(process.execPath, tsxLoader, {
      cwd: REPO,
      env: { ...process.env, PATH: bin, XDG_CACHE_HOME: cache, RUST_KB_SKIP_LLAMA_BUILD: "", RUST_KB_GPU: "false", CXX: "" },
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/not built: cmake, a C\+\+ compiler, git and make or ninja are missing; runs use node-llama-cpp in process/);
    expect(fs.readdirSync(cache)).toEqual([]);
  });

  it("buildLlamaServer.sh --check accepts a cached binary built with the current patches and refuses other patches", () => {
    const commit = bundleCommit();
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    const patchDir = path.join(REPO, "bench", "llamacpp", "patches");
    const current = fs
      .readdirSync(patchDir)
      .filter((f) => f.endsWith(".diff"))
      .sort()
      .map(
        (f) =>
          `${f.slice(0, -".diff".length)}@${crypto
            .createHash("sha256")
            .update(fs.readFileSync(path.join(patchDir, f)))
            .digest("hex")
            .slice(0, 12)}`,
      )
      .join(" ");
    const cache = fs.mkdtempSync(path.join(tmp, "xdg-"));
    const dest = path.join(cache, "rust-kb-pipeline", "llama.cpp", commit ?? "", "bin");
    fs.mkdirSync(dest, { recursive: true });
    fs.writeFileSync(path.join(dest, "llama-server"), "#!/bin/sh\necho 'version: 1 (abcdef0)'\n", { mode: 0o755 });
    const check = (patches: string) => {
      fs.writeFileSync(path.join(dest, "..", "build-info.json"), `${JSON.stringify({ commit, patches })}\n`);
      return spawnSync("bash", [path.join(REPO, "scripts", "buildLlamaServer.sh"), "--check"], {
        env: { ...process.env, XDG_CACHE_HOME: cache },
        encoding: "utf8",
      });
    };
    const ok = check(current);
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim().split("\n").pop()).toBe(path.join(dest, "llama-server"));
    expect(check("grammar-candidates@000000000000").status).toBe(1);
  });
});

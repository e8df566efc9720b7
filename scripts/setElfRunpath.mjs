#!/usr/bin/env node
/**
 * Rewrites the RUNPATH (or RPATH) of 64-bit little-endian ELF files in place to a shorter value,
 * as `chrpath -r` does, without extra tools: usage `node scripts/setElfRunpath.mjs '$ORIGIN' FILE...`.
 *
 * scripts/buildLlamaServer.sh copies llama-server and the shared libraries it was linked with out of
 * a CMake build tree, whose RUNPATH names that tree by absolute path; `$ORIGIN` makes the copy find
 * its libraries beside itself, so the cache keeps working when the build tree is deleted.
 * The new value must not be longer than the old one (the string table is not resized).
 */
import fs from "node:fs";

const [newPath, ...files] = process.argv.slice(2);
if (!newPath || files.length === 0) {
  console.error("usage: setElfRunpath.mjs NEW_RUNPATH FILE...");
  process.exit(2);
}

for (const file of files) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) throw new Error(`${file}: not a 64-bit little-endian ELF file`);
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  const loads = [];
  let dynamic;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = buf.readUInt32LE(o);
    const ph = { offset: Number(buf.readBigUInt64LE(o + 8)), vaddr: Number(buf.readBigUInt64LE(o + 16)), filesz: Number(buf.readBigUInt64LE(o + 32)) };
    if (type === 1) loads.push(ph);
    if (type === 2) dynamic = ph;
  }
  if (!dynamic) {
    console.log(`${file}: static, nothing to do`);
    continue;
  }
  let strtab;
  const paths = [];
  for (let o = dynamic.offset; o + 16 <= dynamic.offset + dynamic.filesz; o += 16) {
    const tag = Number(buf.readBigInt64LE(o));
    const val = Number(buf.readBigUInt64LE(o + 8));
    if (tag === 0) break;
    if (tag === 5) strtab = val;
    if (tag === 15 || tag === 29) paths.push(val);
  }
  if (paths.length === 0) {
    console.log(`${file}: no RUNPATH`);
    continue;
  }
  const seg = loads.find((l) => strtab >= l.vaddr && strtab < l.vaddr + l.filesz);
  if (strtab === undefined || !seg) throw new Error(`${file}: string table not found`);
  const strtabOff = strtab - seg.vaddr + seg.offset;
  for (const rel of paths) {
    const start = strtabOff + rel;
    const end = buf.indexOf(0, start);
    const old = buf.toString("latin1", start, end);
    if (Buffer.byteLength(newPath) > end - start) throw new Error(`${file}: new RUNPATH "${newPath}" is longer than the old "${old}"`);
    buf.fill(0, start, end);
    buf.write(newPath, start, "latin1");
    console.log(`${file}: RUNPATH ${old} -> ${newPath}`);
  }
  fs.writeFileSync(file, buf);
}

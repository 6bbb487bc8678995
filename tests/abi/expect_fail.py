#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Proves abi_check.py can fail: runs it on images broken on purpose and
# requires that exactly the expected checks fail, for the expected reason.
#
#   expect_fail.py CHECKER NAMES IMAGE [CASE BUILT_IMAGE]...
#
# IMAGE is the real libvsched.so; it must pass, and copies of it edited in
# memory give one case per check. Each CASE names a test image built from
# tests/abi/bad/ (see BUILT below).
import os
import struct
import subprocess
import sys
import tempfile

# What each image built from tests/abi/bad/ must fail, and nothing else.
BUILT = {
    'good': set(),
    'writable': {'writable'},
    'relative': {'relocations'},
    # a call to an undefined function always goes through a GOT or PLT slot
    'undefined': {'undefined', 'relocations'},
    'needed': {'needed'},
    'extra': {'exports'},
}


def run_checker(checker, image, names):
    """Runs the checker; returns (exit code, failed checks, output)."""
    p = subprocess.run([sys.executable, checker, image, names],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, check=False)
    failed = {line.split()[1].rstrip(':') for line in p.stdout.splitlines()
              if line.startswith('FAIL ')}
    return p.returncode, failed, p.stdout


class Edit:
    """Copy-on-write edits of an image, located with the checker's parser."""

    def __init__(self, abi, data):
        self.abi = abi
        self.data = bytearray(data)
        self.elf = abi.Elf(bytes(data))
        self.phoff = struct.unpack_from('<Q', data, 32)[0]

    def put(self, fmt, off, *vals):
        struct.pack_into(fmt, self.data, off, *vals)
        return self

    def phdr_off(self, ptype):
        for i, ph in enumerate(self.elf.phdrs):
            if ph['type'] == ptype:
                return self.phoff + i * self.abi.PHDR.size
        raise LookupError('no segment of type %#x' % ptype)

    def spare_phdr_off(self):
        for i, ph in enumerate(self.elf.phdrs):
            if ph['type'] not in (self.abi.PT_LOAD, self.abi.PT_DYNAMIC):
                return self.phoff + i * self.abi.PHDR.size
        raise LookupError('no spare segment')

    def dyn_off(self, tag):
        ph = self.elf.phdrs[[p['type'] for p in self.elf.phdrs].index(self.abi.PT_DYNAMIC)]
        for i in range(ph['filesz'] // 16):
            off = ph['offset'] + 16 * i
            if struct.unpack_from('<q', self.data, off)[0] == tag:
                return off
        raise LookupError('no dynamic tag %d' % tag)

    def shdr_off(self, name):
        shoff = struct.unpack_from('<Q', self.data, 40)[0]
        for i, sh in enumerate(self.elf.shdrs):
            if sh['sname'] == name:
                return shoff + i * self.abi.SHDR.size
        raise LookupError('no section %s' % name)

    def sym_off(self, name):
        sh = [s for s in self.elf.shdrs if s['type'] == self.abi.SHT_DYNSYM][0]
        for s in self.elf.dynsym:
            if s['name'] == name:
                return sh['offset'] + s['index'] * self.abi.SYM.size
        raise LookupError('no symbol %s' % name)


def edited_cases(abi, data):
    """(case, expected failures, edited bytes): one case per check at least."""
    DT_SONAME = 14
    ed = Edit(abi, data)
    yield 'et-exec', {'elf-type'}, ed.put('<H', 16, 2).data
    ed = Edit(abi, data)
    yield 'soname-to-needed', {'needed'}, ed.put('<q', ed.dyn_off(DT_SONAME), abi.DT_NEEDED).data
    ed = Edit(abi, data)
    yield 'soname-to-textrel', {'relocations'}, \
        ed.put('<q', ed.dyn_off(DT_SONAME), abi.DT_TEXTREL).data
    ed = Edit(abi, data)
    yield 'hash-to-rela', {'relocations'}, \
        ed.put('<I', ed.shdr_off('.hash') + 4, abi.SHT_RELA).data
    ed = Edit(abi, data)
    yield 'spawn-undefined', {'undefined', 'exports'}, \
        ed.put('<H', ed.sym_off('vsched_spawn') + 6, abi.SHN_UNDEF).data
    ed = Edit(abi, data)
    off = ed.phdr_off(abi.PT_LOAD)
    flags = struct.unpack_from('<I', ed.data, off + 4)[0]
    yield 'load-writable', {'writable'}, ed.put('<I', off + 4, flags | abi.PF_W).data
    for ptype, name in ((abi.PT_TLS, 'tls'), (abi.PT_INTERP, 'interp'),
                        (abi.PT_GNU_RELRO, 'relro')):
        ed = Edit(abi, data)
        yield 'note-to-' + name, {'segments'}, ed.put('<I', ed.spare_phdr_off(), ptype).data
    ed = Edit(abi, data)
    yield 'note-to-load', {'one-load'}, ed.put('<I', ed.spare_phdr_off(), abi.PT_LOAD).data
    yield 'not-elf', {'elf'}, b'#!/bin/sh\n' + bytes(data[10:200])


def main(argv):
    if len(argv) < 4 or len(argv) % 2:
        print('usage: expect_fail.py CHECKER NAMES IMAGE [CASE IMAGE]...', file=sys.stderr)
        return 2
    checker, names, image = argv[1:4]
    sys.path.insert(0, os.path.dirname(os.path.abspath(checker)))
    sys.dont_write_bytecode = True  # the checker lives in the source tree
    import abi_check as abi  # pylint: disable=import-outside-toplevel

    bad = 0

    def expect(case, want, path, names_path=names):
        nonlocal bad
        code, failed, out = run_checker(checker, path, names_path)
        good = failed == want and code == (1 if want else 0)
        print('%-4s %s: fails %s, wants %s (exit %d)' % (
            'ok' if good else 'FAIL', case, sorted(failed) or 'nothing',
            sorted(want) or 'nothing', code))
        if not good:
            bad += 1
            print(''.join('     | ' + line + '\n' for line in out.splitlines()), end='')

    expect('real-image', set(), image)
    with open(image, 'rb') as f:
        data = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        for case, want, blob in edited_cases(abi, data):
            path = os.path.join(tmp, case + '.so')
            with open(path, 'wb') as f:
                f.write(blob)
            expect(case, want, path)
        # a names list short of a name DESIGN requires
        with open(names, encoding='utf-8') as f:
            short = [n for n in f.read().split() if n != 'vsched_yield_now']
        short_path = os.path.join(tmp, 'short.names')
        with open(short_path, 'w', encoding='utf-8') as f:
            f.write('\n'.join(short) + '\n')
        expect('names-short', {'names', 'exports'}, image, short_path)
    seen = set()
    for i in range(4, len(argv), 2):
        case, path = argv[i], argv[i + 1]
        if case not in BUILT:
            print('FAIL %s: unknown case' % case)
            bad += 1
            continue
        seen.add(case)
        expect('built-' + case, BUILT[case], path)
    for case in sorted(set(BUILT) - seen):
        print('FAIL built-%s: no image given' % case)
        bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

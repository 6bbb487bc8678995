#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Checks the invariants DESIGN.md sets for libvsched.so on the built file,
# in the spirit of the kernel's vdso2c: an ELF64 parser of its own, no
# readelf, the same code for the x86_64, aarch64 and riscv64 images.
#
#   abi_check.py IMAGE NAMES    NAMES: the exported names, one per line
#
# Prints one line per check, "ok   name: detail" or "FAIL name: detail",
# and exits 1 if any check failed (2 on bad usage).
import struct
import sys

# The calls DESIGN.md requires libvsched.so to export.
DESIGN_NAMES = (
    'vsched_init', 'vsched_init_secondary', 'vsched_spawn', 'vsched_yield_now',
    'vsched_preempt_current', 'vsched_resched', 'vsched_resched_f',
    'vsched_yield_f', 'vsched_switch_to', 'vsched_unblock_task',
    'vsched_current', 'vsched_take_prev_task', 'vsched_set_priority',
    'vsched_task_tick', 'vsched_migrate_entry',
)

ET_DYN = 3
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_TLS = 1, 2, 3, 7
PT_GNU_RELRO = 0x6474e552
PF_W = 2
SHT_RELA, SHT_DYNSYM, SHT_REL, SHT_RELR = 4, 11, 9, 19
SHT_GNU_VERDEF = 0x6ffffffd
SHN_UNDEF, SHN_ABS = 0, 0xfff1
STB_GLOBAL, STB_WEAK = 1, 2
STT_OBJECT, STT_FUNC = 1, 2
STV_DEFAULT, STV_PROTECTED = 0, 3
DT_NULL, DT_NEEDED, DT_FLAGS, DT_TEXTREL = 0, 1, 30, 22
DF_TEXTREL = 0x4
# Tables and their sizes: present with a non-zero value means relocations.
# (riscv64's ld writes DT_RELA = DT_RELASZ = 0 into every shared object.)
DT_RELOC_NONZERO = {
    2: 'DT_PLTRELSZ', 7: 'DT_RELA', 8: 'DT_RELASZ', 17: 'DT_REL',
    18: 'DT_RELSZ', 23: 'DT_JMPREL', 35: 'DT_RELRSZ', 36: 'DT_RELR',
    0x6ffffff9: 'DT_RELACOUNT', 0x6ffffffa: 'DT_RELCOUNT',
}
MACHINES = {62: 'x86_64', 183: 'aarch64', 243: 'riscv'}

EHDR = struct.Struct('<16sHHIQQQIHHHHHH')
PHDR = struct.Struct('<IIQQQQQQ')
SHDR = struct.Struct('<IIQQQQIIQQ')
SYM = struct.Struct('<IBBHQQ')
DYN = struct.Struct('<qQ')
VERDEF = struct.Struct('<HHHHIII')
VERDAUX = struct.Struct('<II')


class ElfError(Exception):
    pass


class Elf:
    """The parts of an ELF64 little-endian file the checks need, bounds-checked."""

    def __init__(self, data):
        self.data = data
        if len(data) < 16 or data[:4] != b'\x7fELF':
            raise ElfError('not an ELF file')
        if data[4] != 2 or data[5] != 1:
            raise ElfError('not ELF64 little-endian (class %d, data %d)' % (data[4], data[5]))
        (_, self.type, self.machine, _, _, phoff, shoff, _, _, phentsize, phnum,
         shentsize, shnum, shstrndx) = self.unpack(EHDR, 0)
        if phentsize != PHDR.size or (shnum and shentsize != SHDR.size):
            raise ElfError('bad header entry sizes')
        self.phdrs = [dict(zip(('type', 'flags', 'offset', 'vaddr', 'paddr', 'filesz',
                                'memsz', 'align'), self.unpack(PHDR, phoff + i * PHDR.size)))
                      for i in range(phnum)]
        self.shdrs = [dict(zip(('name', 'type', 'flags', 'addr', 'offset', 'size', 'link',
                                'info', 'addralign', 'entsize'),
                               self.unpack(SHDR, shoff + i * SHDR.size)))
                      for i in range(shnum)]
        names = self.shdrs[shstrndx] if 0 < shstrndx < shnum else None
        for sh in self.shdrs:
            sh['sname'] = self.cstr(names, sh['name']) if names else '?'
        self.dynamic = self.read_dynamic()
        self.dynsym = self.read_dynsym()
        self.verdefs = self.read_verdefs()

    def unpack(self, st, off):
        if off < 0 or off + st.size > len(self.data):
            raise ElfError('truncated: %d bytes at %#x pass the end' % (st.size, off))
        return st.unpack_from(self.data, off)

    def section_bytes(self, sh):
        if sh['offset'] + sh['size'] > len(self.data):
            raise ElfError('truncated: section %s passes the end' % sh['sname'])
        return self.data[sh['offset']:sh['offset'] + sh['size']]

    def cstr(self, strtab, off):
        raw = self.section_bytes(strtab)
        end = raw.find(b'\0', off)
        if off >= len(raw) or end < 0:
            raise ElfError('string at %#x is outside %s' % (off, strtab['sname']))
        return raw[off:end].decode('ascii', 'replace')

    def read_dynamic(self):
        out = []
        for ph in self.phdrs:
            if ph['type'] != PT_DYNAMIC:
                continue
            for i in range(ph['filesz'] // DYN.size):
                tag, val = self.unpack(DYN, ph['offset'] + i * DYN.size)
                if tag == DT_NULL:
                    break
                out.append((tag, val))
        return out

    def read_dynsym(self):
        out = []
        for sh in self.shdrs:
            if sh['type'] != SHT_DYNSYM:
                continue
            if sh['entsize'] != SYM.size or sh['link'] >= len(self.shdrs):
                raise ElfError('malformed .dynsym')
            strtab = self.shdrs[sh['link']]
            self.dynstr = strtab
            for i in range(sh['size'] // SYM.size):
                name, info, other, shndx, value, size = self.unpack(
                    SYM, sh['offset'] + i * SYM.size)
                out.append(dict(index=i, name=self.cstr(strtab, name), bind=info >> 4,
                                type=info & 0xf, vis=other & 3, shndx=shndx,
                                value=value, size=size))
        return out

    def read_verdefs(self):
        names = set()
        for sh in self.shdrs:
            if sh['type'] != SHT_GNU_VERDEF or sh['link'] >= len(self.shdrs):
                continue
            off, seen = sh['offset'], 0
            while seen < sh['info']:
                _, _, _, cnt, _, aux, nxt = self.unpack(VERDEF, off)
                if cnt:
                    name, _ = self.unpack(VERDAUX, off + aux)
                    names.add(self.cstr(self.shdrs[sh['link']], name))
                seen += 1
                if not nxt:
                    break
                off += nxt
        return names


def dt_name(elf, val):
    try:
        return elf.cstr(elf.dynstr, val)
    except (ElfError, AttributeError):
        return '#%d' % val


def check_type(elf):
    return elf.type == ET_DYN, 'e_type %d (ET_DYN is %d)' % (elf.type, ET_DYN)


def check_needed(elf):
    needed = [dt_name(elf, v) for t, v in elf.dynamic if t == DT_NEEDED]
    return not needed, 'DT_NEEDED: ' + (', '.join(needed) or 'none')


def check_undefined(elf):
    und = [s['name'] or '#%d' % s['index'] for s in elf.dynsym[1:] if s['shndx'] == SHN_UNDEF]
    return not und, 'undefined in .dynsym: ' + (', '.join(und) or 'none')


def check_relocations(elf):
    bad = []
    empty = []
    for tag, val in elf.dynamic:
        if tag == DT_TEXTREL:
            bad.append('DT_TEXTREL')
        elif tag == DT_FLAGS and val & DF_TEXTREL:
            bad.append('DF_TEXTREL')
        elif tag in DT_RELOC_NONZERO:
            (bad if val else empty).append('%s=%#x' % (DT_RELOC_NONZERO[tag], val))
    kinds = {SHT_REL: 'SHT_REL', SHT_RELA: 'SHT_RELA', SHT_RELR: 'SHT_RELR'}
    bad += ['%s %s' % (kinds[sh['type']], sh['sname'])
            for sh in elf.shdrs if sh['type'] in kinds]
    detail = 'relocations: ' + (', '.join(bad) or 'none')
    if empty:
        detail += ' (empty tables: %s)' % ', '.join(empty)
    return not bad, detail


def check_writable(elf):
    rw = [i for i, ph in enumerate(elf.phdrs) if ph['type'] == PT_LOAD and ph['flags'] & PF_W]
    return not rw, 'writable PT_LOAD: ' + (', '.join('#%d' % i for i in rw) or 'none')


def check_segments(elf):
    kinds = {PT_INTERP: 'PT_INTERP', PT_TLS: 'PT_TLS', PT_GNU_RELRO: 'PT_GNU_RELRO'}
    bad = [kinds[ph['type']] for ph in elf.phdrs if ph['type'] in kinds]
    return not bad, 'PT_INTERP/PT_TLS/PT_GNU_RELRO: ' + (', '.join(bad) or 'none')


def check_one_load(elf):
    n = sum(ph['type'] == PT_LOAD for ph in elf.phdrs)
    return n == 1, '%d PT_LOAD segment(s)' % n


def exported(sym):
    return (sym['bind'] in (STB_GLOBAL, STB_WEAK) and sym['shndx'] != SHN_UNDEF and
            sym['vis'] in (STV_DEFAULT, STV_PROTECTED))


def check_exports(elf, names):
    funcs = set()
    other = []
    for s in elf.dynsym[1:]:
        if not exported(s):
            continue
        if s['type'] == STT_FUNC:
            funcs.add(s['name'])
        elif not (s['shndx'] == SHN_ABS and s['type'] == STT_OBJECT and
                  s['value'] == 0 and s['name'] in elf.verdefs):
            other.append(s['name'])  # anything but a version node
    want = set(names)
    missing, extra = sorted(want - funcs), sorted(funcs - want)
    ok = not missing and not extra and not other
    if ok:
        return True, '%d functions, exactly the names list' % len(funcs)
    return False, 'missing: %s; extra: %s; non-functions: %s' % (
        ', '.join(missing) or 'none', ', '.join(extra) or 'none', ', '.join(other) or 'none')


def check_names(names):
    dup = sorted({n for n in names if names.count(n) > 1})
    absent = [n for n in DESIGN_NAMES if n not in names]
    ok = bool(names) and not dup and not absent
    return ok, '%d names; duplicates: %s; DESIGN names absent: %s' % (
        len(names), ', '.join(dup) or 'none', ', '.join(absent) or 'none')


def run(image, names_path):
    """Prints the report; returns the names of the failed checks."""
    try:
        with open(names_path, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as e:
        names = []
        results = [('names', (False, str(e)))]
    else:
        results = [('names', check_names(names))]
    try:
        with open(image, 'rb') as f:
            elf = Elf(f.read())
    except (OSError, ElfError) as e:
        results.append(('elf', (False, str(e))))
    else:
        results.append(('elf', (True, 'ELF64 LE, machine %s, %d bytes' % (
            MACHINES.get(elf.machine, elf.machine), len(elf.data)))))
        results += [
            ('elf-type', check_type(elf)),
            ('needed', check_needed(elf)),
            ('undefined', check_undefined(elf)),
            ('relocations', check_relocations(elf)),
            ('writable', check_writable(elf)),
            ('segments', check_segments(elf)),
            ('one-load', check_one_load(elf)),
            ('exports', check_exports(elf, names)),
        ]
    failed = []
    for name, (ok, detail) in results:
        print('%-4s %s: %s' % ('ok' if ok else 'FAIL', name, detail))
        if not ok:
            failed.append(name)
    return failed


def main(argv):
    if len(argv) != 3:
        print('usage: abi_check.py IMAGE NAMES', file=sys.stderr)
        return 2
    return 1 if run(argv[1], argv[2]) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

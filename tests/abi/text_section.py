#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails unless all the code of a relocatable object is in the section
vsrt_text: every function symbol, and every executable section that is
not empty. The preemption signal keys on that section (runtime/text.ld),
so a function outside it could be switched out mid-runtime.

usage: text_section.py READELF OBJECT..."""
import re
import subprocess
import sys


def check(readelf, obj):
    secs = {}
    out = subprocess.run([readelf, '-SW', obj], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        m = re.match(r'\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)'
                     r'\s+[0-9a-f]+\s+(\S*)', line)
        if m:
            secs[int(m.group(1))] = (m.group(2), int(m.group(3), 16), m.group(4))
    bad = ['section %s (%d bytes of code)' % (n, size) for n, size, flags in secs.values()
           if 'X' in flags and size and n != 'vsrt_text']
    out = subprocess.run([readelf, '-sW', obj], check=True, capture_output=True,
                         text=True).stdout
    funcs = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == 'FUNC' and f[6].isdigit():
            funcs += 1
            sec = secs.get(int(f[6]), ('?',))[0]
            if sec != 'vsrt_text':
                bad.append('%s in %s' % (f[7], sec))
    print('%s: %d functions, all in vsrt_text' % (obj, funcs) if not bad and funcs else
          '%s: %d functions' % (obj, funcs))
    return bad if funcs else ['no functions at all']


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    bad = []
    for obj in argv[2:]:
        bad += check(argv[1], obj)
    if bad:
        sys.exit('outside vsrt_text: ' + ', '.join(bad))


if __name__ == '__main__':
    main(sys.argv)

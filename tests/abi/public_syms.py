#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails unless every global symbol an archive defines starts with vs_.

usage: public_syms.py NM ARCHIVE"""
import subprocess
import sys


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    out = subprocess.run([argv[1], '-g', '--defined-only', argv[2]], check=True,
                         capture_output=True, text=True).stdout
    names = [f.split()[2] for f in out.splitlines() if len(f.split()) == 3]
    bad = sorted(n for n in names if not n.startswith('vs_'))
    print('%d global symbols, %d outside vs_' % (len(names), len(bad)))
    if not names or bad:
        sys.exit('not vs_: %s' % ' '.join(bad) if bad else 'no symbols at all')


if __name__ == '__main__':
    main(sys.argv)

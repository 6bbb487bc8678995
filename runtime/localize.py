#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Links static archives into one relocatable object with all their code in
one section (the linker script), then, with --public, makes every symbol
but the public API (vs_*) local, so that an application may define names
such as rt_now or vsa_install of its own.

usage: localize.py [--public OBJCOPY] OUT SCRIPT ARCHIVE... -- CC [CC-ARGS...]"""
import os
import subprocess
import sys


def main(argv):
    args = argv[1:]
    objcopy = None
    if args[:1] == ['--public']:
        objcopy, args = args[1], args[2:]
    if '--' not in args or args.index('--') < 3:
        sys.exit(__doc__)
    sep = args.index('--')
    out, script, archives, cc = args[0], args[1], args[2:sep], args[sep + 1:]
    merged = out + '.all.o' if objcopy else out
    subprocess.run(cc + ['-r', '-nostdlib', '-o', merged, '-Wl,-T,' + script,
                         '-Wl,--whole-archive'] + archives + ['-Wl,--no-whole-archive'],
                   check=True)
    if objcopy:
        subprocess.run([objcopy, '--wildcard', '--keep-global-symbol=vs_*', merged, out],
                       check=True)
        os.unlink(merged)


if __name__ == '__main__':
    main(sys.argv)

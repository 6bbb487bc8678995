#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Links static archives into one relocatable object whose only global
symbols are the public API (vs_*): every other symbol, the runtime's and
the loader's helpers included, becomes local, so an application may define
names such as rt_now or vsa_install of its own.

usage: localize.py OUT OBJCOPY ARCHIVE... -- CC [CC-ARGS...]"""
import os
import subprocess
import sys


def main(argv):
    if '--' not in argv or len(argv) < 5:
        sys.exit(__doc__)
    sep = argv.index('--')
    out, objcopy, archives, cc = argv[1], argv[2], argv[3:sep], argv[sep + 1:]
    tmp = out + '.all.o'
    subprocess.run(cc + ['-r', '-nostdlib', '-o', tmp, '-Wl,--whole-archive'] + archives +
                   ['-Wl,--no-whole-archive'], check=True)
    subprocess.run([objcopy, '--wildcard', '--keep-global-symbol=vs_*', tmp, out], check=True)
    os.unlink(tmp)


if __name__ == '__main__':
    main(sys.argv)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Makes the version script (or a plain name list) from vsched_api.def.
import re
import sys


def names(path):
    text = open(path, encoding='utf-8').read()
    return re.findall(r'^VSCHED_API\([^,]+,\s*(\w+)\s*,', text, re.M)


def main():
    mode, src, dst = sys.argv[1:4]
    api = names(src)
    if not api:
        sys.exit('no VSCHED_API entries in ' + src)
    with open(dst, 'w', encoding='utf-8') as f:
        if mode == 'map':
            f.write('VSCHED_1 {\n\tglobal:\n')
            f.writelines('\t\t%s;\n' % n for n in api)
            f.write('\tlocal: *;\n};\n')
        else:
            f.writelines(n + '\n' for n in api)


if __name__ == '__main__':
    main()

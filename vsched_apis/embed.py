#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Turns a built libvsched.so into a C source holding its bytes, so the
# interface layer can map the image without finding it on disk.
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: embed.py IMAGE OUTPUT.c')
    src, dst = sys.argv[1:3]
    with open(src, 'rb') as f:
        data = f.read()
    if not data:
        sys.exit('embed.py: %s is empty' % src)
    lines = []
    for i in range(0, len(data), 16):
        lines.append('\t' + ' '.join('0x%02x,' % b for b in data[i:i + 16]))
    with open(dst, 'w', encoding='utf-8') as f:
        f.write('/* SPDX-License-Identifier: MIT */\n')
        f.write('/* libvsched.so, %d bytes, made by vsched_apis/embed.py. */\n'
                % len(data))
        f.write('#include <stdalign.h>\n#include <stddef.h>\n\n')
        f.write('#include "vsched_apis.h"\n\n')
        f.write('alignas(16) const unsigned char vsa_embedded_image[] = {\n')
        f.write('\n'.join(lines))
        f.write('\n};\n\n')
        f.write('const size_t vsa_embedded_image_size = sizeof(vsa_embedded_image);\n')


if __name__ == '__main__':
    main()
